"""The local finance answerer: common money questions answered from records, with no model."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from agents.finance_answers import QUESTION, finance_answer, period
from memory import MemoryService, NewTransaction
from tests.conftest import BERLIN

TODAY = date(2026, 11, 25)  # a Wednesday: this week began on Monday the 23rd


@pytest.fixture(autouse=True)
def _today(clock_at: Callable[[datetime], None]) -> None:
    """The clock says TODAY (noon in the operator's zone), so what the code checks agrees with the data."""
    clock_at(datetime.combine(TODAY, time(12), BERLIN))


async def _books(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    for number, client, amount, currency, due in [
        ("INV-1", "Acme GmbH", "1200", "EUR", date(2026, 11, 10)),
        ("GLX-2", "Globex Ltd", "1000", "EUR", date(2026, 11, 15)),
        ("INI-3", "Initech", "500", "USD", date(2026, 11, 1)),
        ("HOO-4", "Hooli", "800", "EUR", date(2026, 12, 20)),
    ]:
        await finance.add_invoice(
            workspace,
            number=number,
            client=client,
            amount=Decimal(amount),
            currency=currency,
            due_at=due,
            issued_at=date(2026, 10, 1),
        )
    statement = [
        NewTransaction("t1", date(2026, 11, 24), Decimal("1200.00"), "EUR", "ACME GMBH", "INV-1"),
        NewTransaction("t2", date(2026, 11, 23), Decimal("300.00"), "EUR", "Globex", "first half"),
        NewTransaction("t3", date(2026, 11, 20), Decimal("75.00"), "EUR", "J DOE", "workshop"),
        NewTransaction("t4", date(2026, 11, 22), Decimal("-4.20"), "EUR", "Kaffee Bar", ""),
        NewTransaction("t5", date(2026, 11, 2), Decimal("50.00"), "EUR", "", "Refund"),
    ]
    await finance.import_transactions(workspace, "main", statement, "test")


async def ask(memory: MemoryService, workspace: str, question: str) -> str | None:
    return await finance_answer(question, memory, workspace, TODAY, "Europe/Berlin")


async def test_which_invoices_are_overdue(memory: MemoryService, workspace: str) -> None:
    await _books(memory, workspace)
    assert await ask(memory, workspace, "Which invoices are overdue?") == (
        "*Overdue invoices:* 2 invoices, EUR 700.00 + USD 500.00 outstanding\n"
        "- INI-3 · Initech · USD 500.00 · due 01 Nov (24 days late)\n"
        "- GLX-2 · Globex Ltd · EUR 700.00 of EUR 1,000.00 · due 15 Nov (10 days late)"
    )


async def test_who_paid_this_week_and_last_week(memory: MemoryService, workspace: str) -> None:
    await _books(memory, workspace)
    assert await ask(memory, workspace, "who paid this week?") == (
        "*Paid this week* (Mon 23 Nov – Wed 25 Nov): 2 payments, EUR 1,500.00\n"
        "- Tue 24 Nov · Acme GmbH · EUR 1,200.00 · INV-1 paid\n"
        "- Mon 23 Nov · Globex Ltd · EUR 300.00 · part of GLX-2"
    )
    last_week = await ask(memory, workspace, "Who paid last week?")
    assert last_week is not None
    assert "J DOE · EUR 75.00 · not matched to an invoice" in last_week and "Acme" not in last_week
    assert "Kaffee" not in last_week  # money out is not a payment received


async def test_what_came_in_this_month(memory: MemoryService, workspace: str) -> None:
    await _books(memory, workspace)
    answer = await ask(memory, workspace, "what came in this month?")
    assert answer is not None
    assert answer.startswith("*Came in this month* (Sun 01 Nov – Wed 25 Nov): EUR 1,625.00 in 4 payments\n")
    assert answer.splitlines()[1:] == [
        "- Acme GmbH · EUR 1,200.00",
        "- Globex Ltd · EUR 300.00",
        "- J DOE · EUR 75.00",
        "- Refund · EUR 50.00",
    ]


@pytest.mark.parametrize(
    "question",
    ["Which invoices are overdue and who paid this week?", "overdue invoices and who paid this week"],
)
async def test_a_question_with_two_parts_gets_both_answers(
    memory: MemoryService, workspace: str, question: str
) -> None:
    await _books(memory, workspace)
    answer = await ask(memory, workspace, question)
    assert answer is not None
    overdue, paid = answer.split("\n\n")
    assert overdue.startswith("*Overdue invoices:* 2 invoices") and "INI-3" in overdue
    assert paid.startswith("*Paid this week* (Mon 23 Nov – Wed 25 Nov): 2 payments")


async def test_empty_books_get_a_plain_answer(memory: MemoryService, workspace: str) -> None:
    assert await ask(memory, workspace, "any overdue invoices?") == (
        "*Overdue invoices:* none — every invoice is paid or not yet due."
    )
    assert await ask(memory, workspace, "did anyone pay today?") == (
        "*Paid today* (Wed 25 Nov): no incoming payments in the imported bank statements."
    )


@pytest.mark.parametrize(
    "question",
    [
        "remind me to chase overdue invoices tomorrow",
        "remember that Acme paid late",
        "draft a reminder for the overdue invoices",
        "which tasks are overdue?",
        "what is our hourly rate?",
        "who hasn't replied to my email?",
        "hello",
        "",
    ],
)
async def test_other_messages_are_left_to_the_rest_of_the_router(
    memory: MemoryService, workspace: str, question: str
) -> None:
    assert await ask(memory, workspace, question) is None


@pytest.mark.parametrize(
    "text",
    [
        "Which invoices are overdue?",
        "what is overdue",
        "who paid this week?",
        "what came in this month?",
        "overdue invoices and who paid this week",
        "Acme just told me they will pay invoice 42 late",  # recognised here; the router reads it as news
        "remind me to chase overdue invoices tomorrow",
        "which tasks are overdue?",
        "hello",
    ],
)
async def test_the_routers_pattern_recognises_what_the_answerer_answers(
    memory: MemoryService, workspace: str, text: str
) -> None:
    recognised = re.match(QUESTION, text, re.IGNORECASE | re.DOTALL) is not None
    assert recognised == (await ask(memory, workspace, text) is not None)


def test_periods_end_today_and_weeks_start_on_monday() -> None:
    assert (period("this week", TODAY).since, period("this week", TODAY).until) == (
        date(2026, 11, 23),
        date(2026, 11, 26),
    )
    assert (period("last week", TODAY).since, period("last week", TODAY).until) == (
        date(2026, 11, 16),
        date(2026, 11, 23),
    )
    assert (period("last month", TODAY).since, period("last month", TODAY).until) == (
        date(2026, 10, 1),
        date(2026, 11, 1),
    )
    assert period("last month", date(2026, 1, 15)).since == date(2025, 12, 1)
