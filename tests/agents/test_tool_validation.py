"""Tools check their arguments like a careful assistant (the issue: ``free_time`` offered Saturday
14 Nov when today was Friday 27 Nov). Free slots are never in the past nor at weekends unless asked;
a window wholly in the past, an address that is not one, a negative, zero or non-numeric amount, an
unknown currency, a due date or event in the past are refused with the reason sent back to the
model, and nothing reaches the gate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agents import Budget, Prices
from agents.team import TurnDeps, scheduling_agent
from tests.support.chat import FakeChat
from tests.support.models import Script, call, last_tool_result, say

FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # 11:00 in Berlin, the operator's zone


async def _free_time(app: Any, workspace: str, **args: Any) -> str:
    """What ``free_time`` answers the scheduling specialist for ``args``."""

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("free_time", args)])
        return ModelResponse(parts=[TextPart(last_tool_result(messages))])

    deps = TurnDeps(
        app.memory,
        app.gate,
        workspace,
        "tester",
        f"{workspace}:free",
        "exploratory",
        app.runner.tiers,
        "fast",
        Budget(Decimal(5), Decimal(50)),
        Prices(Decimal(0), Decimal(0)),
        "",
    )
    result = await scheduling_agent.run("when am I free?", deps=deps, model=FunctionModel(model))
    return result.output


async def test_free_time_in_the_past_is_refused_with_the_reason(app, workspace: str, clock_at) -> None:  # type: ignore[no-untyped-def]
    clock_at(FRIDAY)
    answer = await _free_time(app, workspace, from_date="2026-11-14", to_date="2026-11-15")
    assert "is in the past: today is Friday 2026-11-27" in answer
    assert "Sat 14 Nov" not in answer


async def test_free_time_offers_no_past_hours_and_no_weekend(app, workspace: str, clock_at) -> None:  # type: ignore[no-untyped-def]
    clock_at(FRIDAY)
    answer = await _free_time(app, workspace, from_date="2026-11-27", to_date="2026-11-30", minutes=120)
    assert "Fri 27 Nov 09:00" not in answer  # this morning is over
    assert answer.startswith("Fri 27 Nov 11:15–17:00")  # it is 11:00 and a few seconds: the next quarter hour
    assert "Sat" not in answer and "Sun" not in answer
    assert "Mon 30 Nov 09:00–17:00" in answer
    asked = await _free_time(app, workspace, from_date="2026-11-27", to_date="2026-11-30", minutes=120, weekends=True)
    assert "Sat 28 Nov 09:00–17:00" in asked


async def test_only_a_weekend_left_says_so(app, workspace: str, clock_at) -> None:  # type: ignore[no-untyped-def]
    clock_at(FRIDAY)
    answer = await _free_time(app, workspace, from_date="2026-11-28", to_date="2026-11-29")
    assert answer == "No free slot of that length in those working days (Monday to Friday) from now on."


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("send_email", {"to": "Jane", "subject": "Invoice 42", "body": "Hi"}, "'Jane' is not an e-mail address"),
    ("save_draft", {"to": "jane at acme", "subject": "s", "body": "b"}, "is not an e-mail address"),
    ("create_payment", {"payee": "Acme", "amount": "-50", "currency": "EUR", "reference": "x"}, "is negative"),
    ("create_payment", {"payee": "Acme", "amount": "0", "currency": "EUR", "reference": "x"}, "amount is zero"),
    ("create_payment", {"payee": "Acme", "amount": "lots", "currency": "EUR", "reference": "x"}, "not a number"),
    ("create_payment", {"payee": "Acme", "amount": "1e15", "currency": "EUR", "reference": "x"}, "larger than"),
    ("create_payment", {"payee": "Acme", "amount": "50", "currency": "EURO", "reference": "x"}, "ISO 4217"),
    ("add_task", {"title": "Call Acme", "due_iso_date": "2026-11-14"}, "is in the past (today is Friday 2026-11-27)"),
    ("add_task", {"title": "Call Acme", "due_iso_date": "next week"}, "is not a date like 2026-11-27"),
    (
        "create_event",
        {"title": "Workshop", "starts_at": "2026-11-14T10:00:00+01:00", "ends_at": "2026-11-14T12:00:00+01:00"},
        "would start in the past",
    ),
    (
        "create_event",
        {"title": "Workshop", "starts_at": "2026-12-02T12:00:00+01:00", "ends_at": "2026-12-02T10:00:00+01:00"},
        "must end after it starts",
    ),
    (
        "create_event",
        {
            "title": "Workshop",
            "starts_at": "2026-12-02T10:00:00+01:00",
            "ends_at": "2026-12-02T12:00:00+01:00",
            "attendee_email": "the Globex people",
        },
        "attendee_email 'the Globex people' is not an e-mail address",
    ),
]


@pytest.mark.parametrize(("tool", "args", "reason"), BAD_CALLS, ids=[f"{t}-{r[:20]}" for t, _, r in BAD_CALLS])
async def test_impossible_arguments_are_sent_back_to_the_model(  # type: ignore[no-untyped-def]
    with_model, workspace: str, clock_at, tool: str, args: dict[str, Any], reason: str
) -> None:
    clock_at(FRIDAY)
    results: list[str] = []

    def answer(messages: list[ModelMessage]) -> ModelResponse:
        results.append(last_tool_result(messages))
        return ModelResponse(parts=[TextPart("I need a correct value first.")])

    app = with_model(Script([call(tool, **args), answer]))
    reply = await FakeChat(app, workspace).say("Could you take care of this for me?")
    assert reason in results[0] and "nothing was done" in results[0].lower()
    assert reply == "I need a correct value first."
    with app.memory.db.connection() as conn:
        for table in ("approvals", "outbox", "payments", "tasks"):
            assert conn.execute(f"SELECT * FROM {table} WHERE workspace = %s", (workspace,)).fetchall() == []


async def test_sound_arguments_still_reach_the_gate(with_model, workspace: str, clock_at) -> None:  # type: ignore[no-untyped-def]
    clock_at(FRIDAY)
    app = with_model(Script([call("add_task", title="Call Acme", due_iso_date="2026-11-27"), say("Added.")]))
    await FakeChat(app, workspace).say("Could you take care of this for me?")
    tasks = await app.memory.records.list_tasks(workspace=workspace)
    assert [t.title for t in tasks] == ["Call Acme"]
