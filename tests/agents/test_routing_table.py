"""Where each message goes, with a model configured and without one.

The router answers locally only when it is confident: explicit commands always, loose phrasings
("find …", "what is …", finance words in a sentence) only when no model is configured or when they
are a question the local tier really answers. Statements of fact never get a local report, and
requests the local tier cannot serve go to the model when there is one. Each row is how an operator
might type it; "model" is the kind with a model configured, "local" the kind without one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from agents.commands import commands, route, slack_subcommands
from agents.commands._reading import READINGS, reading
from agents.commands._registry import LOCAL
from bot.app import App
from memory import MemoryService
from tests.conftest import BERLIN
from tests.support.chat import FakeChat
from tests.support.models import Script, say

MODEL = "needs_model"

# (message, kind with a model, kind without one)
TABLE: list[tuple[str, str, str]] = [
    # --- explicit commands: local, model or not ---
    ("/tasks", "task_list", "task_list"),
    ("/soloos tasks", "task_list", "task_list"),
    ("/soloos remember Acme pays net 30", "remember", "remember"),
    ("/soloos recall acme", "recall", "recall"),
    ("/soloos reminders", "reminders", "reminders"),
    ("tasks", "task_list", "task_list"),
    ("TASKS", "task_list", "task_list"),
    ("Show me my open tasks", "task_list", "task_list"),
    ("what's on my list?", "task_list", "task_list"),
    ("what do I need to do today", "task_list", "task_list"),
    ("Todo: renew the domain", "task_add", "task_add"),
    ("todo renew domain", "task_add", "task_add"),
    ("add a task to call Bob tomorrow", "task_add", "task_add"),
    ("Add task: send invoice to Acme by Friday", "task_add", "task_add"),
    ("please add task book the train to Leeds", "task_add", "task_add"),
    ("done 3", "task_done", "task_done"),
    ("I finished task #12", "task_done", "task_done"),
    ("mark 4 as done", "task_done", "task_done"),
    ("remember that Acme pays net 30", "remember", "remember"),
    ("Please remember Jane's birthday is 3 May.", "remember", "remember"),
    ("note: Jane prefers calls", "remember", "remember"),
    ("fyi: Globex moved their office to Leeds", "remember", "remember"),
    ("for the record: we agreed on 900 EUR a day with Acme", "remember", "remember"),
    ("/remember Acme will pay invoice 42 late", "remember", "remember"),
    ("keep in mind that Hooli pays slowly", "remember", "remember"),
    ("Remember that Acme just told me they will pay invoice 42 late", "remember", "remember"),
    ("rule: no calls before 10am", "rule", "rule"),
    ("Always CC my accountant on invoices", "rule", "rule"),
    ("/forget the Acme rate", "forget", "forget"),
    ("forget about the old Globex address", "forget", "forget"),
    ("What do you know about Acme?", "recall", "recall"),
    ("what did I say about the Hooli contract", "recall", "recall"),
    ("tell me what you know about Initech", "recall", "recall"),
    ("/recall acme", "recall", "recall"),
    ("/recall@SoloOSBot acme", "recall", "recall"),
    ("recall jane's phone number", "recall", "recall"),
    ("/search invoice 42", "recall", "recall"),
    ("show my memories", "memories", "memories"),
    ("what have I told you?", "memories", "memories"),
    ("approve K7QF2M", "approve", "approve"),
    ("/approve K7QF2M", "approve", "approve"),
    ("yes, approve K7QF2M", "approve", "approve"),
    ("deny K7QF2M", "deny", "deny"),
    ("details K7QF2M", "details", "details"),
    ("edit K7QF2M body: Hi Jane, invoice 42 is late. Thanks!", "edit", "edit"),
    ("/approvals", "approvals", "approvals"),
    ("what needs my approval?", "approvals", "approvals"),
    ("why", "why", "why"),
    ("undo that", "undo", "undo"),
    ("remind me at 5 to call Jane", "remind", "remind"),
    ("Remind me tomorrow at 9 to chase the overdue Globex invoice", "remind", "remind"),
    ("every Monday at 8am review invoices", "remind", "remind"),
    ("/remind friday 4pm send the weekly report", "remind", "remind"),
    ("/reminders", "reminders", "reminders"),
    ("cancel reminder 7", "reminder_cancel", "reminder_cancel"),
    ("snooze 3 for 1h", "reminder_snooze", "reminder_snooze"),
    ("brief me", "brief", "brief"),
    ("/brief at 07:30 every day", "brief", "brief"),
    ("/drafts", "drafts", "drafts"),
    ("draft 12", "draft_show", "draft_show"),
    ("send draft 4 to jane@acme.test", "draft_send", "draft_send"),
    ("discard draft 5", "draft_discard", "draft_discard"),
    ("/lead Acme wants a new website", "lead", "lead"),
    ("show me the new leads", "leads", "leads"),
    ("/plans", "plans", "plans"),
    ("/plan 3 approve", "plan", "plan"),
    ("/objective Land 3 retainer clients by March", "objective", "objective"),
    ("my goal is to land three retainer clients", "objective", "objective"),
    ("/usage", "usage", "usage"),
    ("how much did I spend this month?", "usage", "usage"),
    ("status", "status", "status"),
    ("/timezone Europe/Paris", "timezone", "timezone"),
    ("/mode creative", "mode", "mode"),
    ("chase INV-42", "chase", "chase"),
    ("chase overdue invoices", "chase", "chase"),
    ("/confirm 1a2b3c4d", "confirm", "confirm"),
    ("help", "help", "help"),
    ("what can you do?", "help", "help"),
    ("/frobnicate now", "help", "help"),
    ("Hello!", "greet", "greet"),
    ("good morning", "greet", "greet"),
    ("   ", "empty", "empty"),
    # --- questions the local tier really answers: local, model or not ---
    ("which invoices are overdue?", "finance", "finance"),
    ("Which invoices are overdue", "finance", "finance"),
    ("WHICH INVOICES ARE OVERDUE?", "finance", "finance"),
    ("whcih invoices are overdue?", "finance", "finance"),
    ("any overdue invoices?", "finance", "finance"),
    ("what's overdue?", "finance", "finance"),
    ("is anything overdue", "finance", "finance"),
    ("who still owes me money?", "finance", "finance"),
    ("who paid this week?", "finance", "finance"),
    ("did anyone pay today?", "finance", "finance"),
    ("what came in this month?", "finance", "finance"),
    ("how much did I earn last month?", "finance", "finance"),
    ("Which invoices are overdue and who paid this week?", "finance", "finance"),
    ("overdue invoices and who paid this week", "finance", "finance"),
    ("overdue invoices", "finance", "finance"),
    ("can you show me the overdue invoices please", "finance", "finance"),
    ("hey soloos, list unpaid invoices", "finance", "finance"),
    ("I'd like to know which invoices are still unpaid", "finance", "finance"),
    ("any payments received last week?", "finance", "finance"),
    ("Could you tell me which invoices are overdue?", "finance", "finance"),
    ("Do I have any overdue invoices?", "finance", "finance"),
    ("Who hasn't paid yet?", "finance", "finance"),
    ("who's paid this month", "finance", "finance"),
    ("How much came in last week", "finance", "finance"),
    ("income this month", "finance", "finance"),
    ("Is invoice 42 overdue?", "finance", "finance"),
    ("/soloos what is overdue", "finance", "finance"),
    ("remind me what I said about Acme", "recall", "recall"),
    # --- loose questions: the model answers them better when there is one ---
    ("what is our hourly rate?", MODEL, "recall"),
    ("What's Jane's phone number", MODEL, "recall"),
    ("tell me about Globex", MODEL, "recall"),
    ("who is Tom at Globex?", MODEL, "recall"),
    ("when is the Acme workshop?", MODEL, "recall"),
    ("where is the Hooli contract", MODEL, "recall"),
    ("anything about Initech?", MODEL, "recall"),
    ("search invoices", MODEL, "recall"),
    ("look up the Acme contract", MODEL, "recall"),
    ("find the Acme contract", MODEL, "recall"),
    ("how much is the Globex retainer?", MODEL, "recall"),
    ("what's the status of invoice 42?", MODEL, "recall"),
    ("search for Acme", MODEL, "recall"),
    ("pls find overdue invoices", MODEL, "finance"),
    # --- requests the local tier cannot really serve ---
    ("find two free hours next week for the Globex workshop", MODEL, MODEL),
    ("Find 2 free hours next week for the Globex workshop please", MODEL, MODEL),
    ("could you find a slot on Thursday for a call with Jane?", MODEL, MODEL),
    ("search for a good accountant in Berlin", MODEL, "recall"),
    ("find invoices Acme hasn't paid and draft a reminder", MODEL, "recall"),
    ("prepare a list of overdue invoices for my accountant", MODEL, "finance"),
    ("draft a warm follow-up to Acme", MODEL, MODEL),
    ("write a reminder for the overdue invoices", MODEL, MODEL),
    ("plan the Globex workshop", MODEL, MODEL),
    ("schedule a call with Jane next week", MODEL, MODEL),
    ("summarise my inbox", MODEL, MODEL),
    ("make the Acme proposal warmer", MODEL, MODEL),
    ("draw me a horse", MODEL, MODEL),
    # --- statements of fact: never a local report ---
    ("Acme just told me they will pay invoice 42 late", MODEL, MODEL),
    ("Acme will pay invoice 42 about three weeks late this month", MODEL, MODEL),
    ("Acme just told me they will pay invoice 42 about three weeks late this month", MODEL, MODEL),
    ("Heads up: Acme will settle invoice 42 three weeks late", MODEL, MODEL),
    ("Acme says invoice 42 will be three weeks late", MODEL, MODEL),
    ("acme said invoice 42 will be paid late", MODEL, MODEL),
    ("Jane confirmed the overdue invoice goes out on Friday.", MODEL, MODEL),
    ("Globex promised to pay the outstanding invoices next week", MODEL, MODEL),
    ("the Hooli invoice is overdue", MODEL, MODEL),
    ("Jane's new rate is 900 EUR", MODEL, MODEL),
    ("we agreed to deliver the Acme site on 4 December", MODEL, MODEL),
    ("I sent invoice 43 to Initech this morning", MODEL, MODEL),
    ("We'll invoice Globex late this month", MODEL, MODEL),
    ("Tom let me know Globex paid last week", MODEL, MODEL),
    ("Acme is paying invoice 42 late, which is annoying", MODEL, MODEL),
    ("every client pays within 30 days", MODEL, MODEL),
    ("Acme paid invoice 42 late", MODEL, MODEL),
    ("Initech sent the overdue invoice back", MODEL, MODEL),
    ("Globex still hasn't paid the outstanding invoice", MODEL, MODEL),
    ("invoice 42 is late again", MODEL, MODEL),
    ("Acme told me their invoice is overdue — what should I do?", MODEL, MODEL),
    ("I need to find two free hours next week", MODEL, MODEL),
    ("thx", MODEL, MODEL),
]


def slack(text: str) -> str:
    """What Slack's adapter hands on: "/soloos tasks" arrives as "tasks" and becomes "/tasks"."""
    if not text.startswith("/soloos "):
        return text
    words = text.removeprefix("/soloos ")
    return "/" + words if words.split()[0] in slack_subcommands() else words


@pytest.mark.parametrize(("text", "with_model", "without_model"), TABLE, ids=[row[0][:50] for row in TABLE])
def test_each_phrasing_goes_where_it_should(text: str, with_model: str, without_model: str) -> None:
    assert route(slack(text), model=True).kind == with_model
    assert route(slack(text), model=False).kind == without_model


def test_the_table_is_large_and_varied() -> None:
    assert len(TABLE) >= 100
    assert len({text for text, _, _ in TABLE}) == len(TABLE)  # no row twice
    to_model = Counter((with_model == MODEL, without_model == MODEL) for _, with_model, without_model in TABLE)
    assert to_model[True, False] >= 15  # loose matches the model takes when there is one
    assert to_model[True, True] >= 15  # statements and requests: never a local answer
    assert to_model[False, False] >= 60  # explicit commands and real questions stay local


def test_only_explicit_commands_answer_a_statement_and_loose_phrasings_are_few() -> None:
    for (confidence, model), readings in LOCAL.items():
        assert ("statement" in readings) == (confidence == "confident"), (confidence, model)
        assert (readings == set(READINGS)) == (confidence == "confident")
    loose = sorted((c.kind, r.order, r.confidence) for c in commands() for r in c.rules if r.confidence != "confident")
    assert loose == [("finance", 500, "question"), ("recall", 520, "fallback"), ("recall", 540, "fallback")]


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        ("which invoices are overdue?", "question"),
        ("Is Acme late with invoice 42", "question"),
        ("did Acme say they would pay late?", "question"),
        ("show me the overdue invoices", "question"),
        ("find two free hours next week", "request"),
        ("please draft a reply to Jane", "request"),
        ("Acme just told me they will pay invoice 42 late", "statement"),
        ("Jane said she'd pay late, can you note that?", "statement"),
        ("Jane's new rate is 900", "statement"),
        ("we agreed to deliver on Friday", "statement"),
        ("Acme late again?", "question"),
        ("overdue invoices", "phrase"),
    ],
)
def test_a_message_reads_as_a_question_a_statement_a_request_or_a_phrase(text: str, reads: str) -> None:
    assert reading(text) == reads


# --- end to end: the two messages seen going astray ---

TODAY = date(2026, 11, 25)
SEEN = [
    "find two free hours next week for the Globex workshop",
    "Acme just told me they will pay invoice 42 late",
    "Acme will pay invoice 42 about three weeks late this month",
    "Acme just told me they will pay invoice 42 about three weeks late this month",
]


@pytest.fixture
def _books(clock_at: Callable[[datetime], None]) -> Callable[[MemoryService, str], object]:
    clock_at(datetime.combine(TODAY, time(12), BERLIN))

    async def add(memory: MemoryService, workspace: str) -> None:
        await memory.finance.add_invoice(
            workspace,
            number="42",
            client="Acme GmbH",
            amount=Decimal("1200"),
            currency="EUR",
            due_at=TODAY - timedelta(days=15),  # overdue on the day the clock is set to
            issued_at=TODAY - timedelta(days=55),
        )

    return add


@pytest.mark.parametrize("text", SEEN)
async def test_with_a_model_the_seen_messages_reach_it(with_model, workspace: str, text: str) -> None:  # type: ignore[no-untyped-def]
    script = Script([say("Noted: I'll keep that in mind.")])
    reply = await FakeChat(with_model(script), workspace).say(text)
    assert script.calls == ["coordinator:0"]  # the model was asked, once
    assert reply == "Noted: I'll keep that in mind."


async def test_without_a_model_finding_free_time_is_not_a_memory_search(app: App, workspace: str) -> None:
    reply = await FakeChat(app, workspace).say(SEEN[0])
    assert "I don't know anything about" not in reply
    assert reply.startswith("That needs a language model, and none is configured")
    assert "If that was a fact to keep" not in reply  # a request, not a fact


@pytest.mark.parametrize("text", SEEN[1:])
async def test_without_a_model_a_statement_gets_an_honest_answer_not_a_report(
    app: App, workspace: str, text: str, _books: Callable[[MemoryService, str], object]
) -> None:
    await _books(app.memory, workspace)  # type: ignore[misc]
    reply = await FakeChat(app, workspace).say(text)
    assert "Overdue invoices" not in reply and "Acme GmbH" not in reply
    assert "needs a language model" in reply
    assert f"If that was a fact to keep, say: remember {text}" in reply


async def test_without_a_model_a_stated_fact_is_kept_with_one_press(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    await chat.say(SEEN[1])
    (button,) = chat.replies[-1].buttons
    assert button.label == "Remember it" and len(button.action.encode()) <= 64
    assert (await chat.press(button.action)).startswith(f"Noted that: {SEEN[1]} [")
    assert [m.text for m in await app.memory.list(workspace)] == [SEEN[1]]
    long = "Globex told me the workshop in Leeds moves to the second week of December, same room"
    await chat.say(long)
    assert chat.replies[-1].buttons == () and f"say: remember {long[:80]}" in chat.replies[-1].text


async def test_without_a_model_the_real_question_still_gets_the_report(
    app: App, workspace: str, _books: Callable[[MemoryService, str], object]
) -> None:
    await _books(app.memory, workspace)  # type: ignore[misc]
    reply = await FakeChat(app, workspace).say("which invoices are overdue?")
    assert reply.startswith("*Overdue invoices:* 1 invoice, EUR 1,200.00 outstanding")


async def test_with_a_model_the_real_question_is_answered_from_the_books(
    with_model, workspace: str, _books: Callable[[MemoryService, str], object]
) -> None:  # type: ignore[no-untyped-def]
    script = Script([say("model answer")])
    app = with_model(script)
    await _books(app.memory, workspace)
    reply = await FakeChat(app, workspace).say("Which invoices are overdue?")
    assert script.calls == [] and reply.startswith("*Overdue invoices:* 1 invoice")
