"""When every model tier fails, the operator reads which tier failed how and what to check, never
"Something went wrong", and the log holds one warning line (issue 14)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic_ai.exceptions import ModelConnectionError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agents import Budget, ModelTiers, Prices
from agents.executor import PlanExecutor
from agents.failures import OVERFLOW
from agents.intake import Lead, take_lead
from agents.models import ModelLimits
from agents.team import TurnDeps, draft_writer
from tests.support.chat import FakeChat
from tests.support.plan_models import objective, retainer_plan

KEY = "sk-live-0123456789abcdef"


def refused(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise ModelConnectionError("llama3", "Connection error.") from httpx.ConnectError("[Errno 111] Connection refused")


def unauthorized(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise ModelHTTPError(401, "gpt-4o", {"error": f"Incorrect API key provided: {KEY}"})


def raw_timeout(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise httpx.ReadTimeout("timed out")


class Broken:
    """Stands in for a ``Script``: ``with_model`` only asks it for its tiers."""

    def __init__(self, fast: Any, strong: Any) -> None:
        self._tiers = ModelTiers(
            fast=FunctionModel(fast, model_name="llama3") if fast else None,
            strong=FunctionModel(strong, model_name="gpt-4o") if strong else None,
        )

    def tiers(self) -> ModelTiers:
        return self._tiers


BOTH = (
    "Both models failed: fast (function:llama3) — cannot connect (connection refused or unknown host); "
    "strong (function:gpt-4o) — HTTP 401 unauthorized; "
)
CHECK = "Check that the model server is running and that the API keys are valid (`soloos doctor` shows both)."


async def test_both_tiers_failing_in_chat_names_each_failure_and_what_to_check(
    with_model, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app = with_model(Broken(refused, unauthorized))
    with caplog.at_level(logging.WARNING):
        reply = await FakeChat(app, workspace).say("is it sunny in Berlin")

    assert reply == BOTH + "nothing was sent. " + CHECK
    assert KEY not in reply and KEY not in caplog.text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["agents.failures"]
    assert not any(r.exc_info for r in caplog.records)


async def test_the_strong_tier_is_named_first_when_it_was_tried_first(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(Broken(refused, unauthorized))
    reply = await FakeChat(app, workspace).say("draft a thank-you note to Hooli")
    assert reply.startswith("Both models failed: strong (function:gpt-4o) — HTTP 401 unauthorized; fast (")


async def test_an_untranslated_transport_error_of_the_only_tier_is_explained(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(Broken(raw_timeout, None))
    reply = await FakeChat(app, workspace).say("is it sunny in Berlin")
    assert reply == "The model failed: fast (function:llama3) — timed out; nothing was sent. " + CHECK


async def test_both_tiers_failing_on_an_objective_saves_no_plan(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(Broken(refused, unauthorized))
    reply = await FakeChat(app, workspace).say("/objective Land 3 new retainer clients by March")

    assert reply == (
        "Both models failed: strong (function:gpt-4o) — HTTP 401 unauthorized; fast (function:llama3) — "
        "cannot connect (connection refused or unknown host); no plan was made and nothing was saved. " + CHECK
    )
    with app.memory.db.connection() as conn:
        count = conn.execute("SELECT count(*) FROM objectives WHERE workspace = %s", (workspace,)).fetchone()
    assert count == (0,)


async def test_an_objective_whose_planning_runs_past_the_turn_time_is_stopped_and_says_so(  # type: ignore[no-untyped-def]
    with_model, workspace: str
) -> None:
    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(5)
        raise AssertionError("the turn's wall time stops planning first")

    broken = Broken(None, slow)
    broken._tiers = dataclasses.replace(broken._tiers, limits=ModelLimits(turn_seconds=0.3, retries=0))
    reply = await FakeChat(with_model(broken), workspace).say("/objective Land 3 new retainer clients by March")
    assert reply.startswith("That took longer than the 0.3 s a turn may take (SOLOOS_TURN_SECONDS); I stopped; ")
    assert "no plan was made and nothing was saved" in reply
    with with_model(broken).memory.db.connection() as conn:
        count = conn.execute("SELECT count(*) FROM objectives WHERE workspace = %s", (workspace,)).fetchone()
    assert count == (0,)


async def test_a_planner_whose_answer_is_unusable_says_so_without_internal_names(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    def prose(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("Sure! Here is a plan: call people.")])  # never the plan's shape

    reply = await FakeChat(with_model(Broken(None, prose)), workspace).say(
        "/objective Land 3 new retainer clients by March"
    )
    assert reply.startswith("The model's answer was not usable (")
    assert "no plan was made and nothing was saved" in reply and "UnexpectedModelBehavior" not in reply


# -- every path names the failure (issue 16): specialists, planner, plan steps -----------------------------


def _connection_refused() -> ModelConnectionError:
    err = ModelConnectionError("scripted-planner", "Connection error.")
    err.__cause__ = httpx.ConnectError("[Errno 111] Connection refused")
    return err


async def test_a_specialist_whose_model_fails_is_named_in_the_chat(  # type: ignore[no-untyped-def]
    with_model, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if any(tool.name == "send_email" for tool in info.function_tools):  # the coordinator delegates
            return ModelResponse(parts=[ToolCallPart("ask_drafting", {"instructions": "a thank-you note to Hooli"})])
        raise ModelHTTPError(500, "llama3", {"error": "llama_decode failed"})

    app = with_model(Broken(model, None))
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(app, workspace).say("draft a thank-you note to Hooli")
    assert (
        reply == "The model failed: fast (function:llama3) — HTTP 500 internal server error; nothing was sent. " + CHECK
    )
    assert not any(r.exc_info for r in caplog.records)


async def test_an_objective_too_large_for_the_model_says_trying_again_will_not_help(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    overflow = ModelHTTPError(
        400,
        "gpt-4o",
        {"message": "the request exceeds the available context size", "type": "exceed_context_size_error"},
    )

    def too_big(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise overflow

    reply = await FakeChat(with_model(Broken(None, too_big)), workspace).say(
        "/objective Land 3 new retainer clients by March"
    )
    assert reply == (
        "The model failed: strong (function:gpt-4o) — the request is larger than the model's context (HTTP 400); "
        "no plan was made and nothing was saved. " + OVERFLOW
    )


async def test_a_plan_step_whose_server_is_down_says_so(
    with_model, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    script = retainer_plan(Research=[_connection_refused()])
    app = with_model(script)
    chat = FakeChat(app, workspace)
    reply = await chat.say(f"/objective {objective()}")
    plan_id = int(reply.split("Plan #", 1)[1].split(":", 1)[0])
    await chat.say(f"/plan {plan_id} approve")
    executor = PlanExecutor(
        app.memory, app.gate, script.tiers(), Budget(Decimal(5), Decimal(50)), Prices(Decimal(0), Decimal(0)), 1500
    )
    with caplog.at_level(logging.INFO):
        ran = await executor.tick(workspace, timezone="Europe/Berlin", report=False)
    research = next(r for r in ran if r.task.owner == "research")
    assert research.outcome == "failed"
    assert "the model failed: cannot connect (connection refused or unknown host)" in research.text
    assert "plainly" not in research.text
    assert not any(r.exc_info for r in caplog.records)
    _cancel_notices(app, workspace)


async def test_a_plan_step_past_its_wall_time_is_stopped_and_says_so(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    def slow(messages: list[ModelMessage]) -> ModelResponse:
        time.sleep(1.0)
        return ModelResponse(parts=[TextPart("late")])

    script = retainer_plan(Research=[slow])
    app = with_model(script)
    chat = FakeChat(app, workspace)
    reply = await chat.say(f"/objective {objective()}")
    plan_id = int(reply.split("Plan #", 1)[1].split(":", 1)[0])
    await chat.say(f"/plan {plan_id} approve")
    tiers = dataclasses.replace(script.tiers(), limits=ModelLimits(retries=0, turn_seconds=0.3))
    executor = PlanExecutor(
        app.memory, app.gate, tiers, Budget(Decimal(5), Decimal(50)), Prices(Decimal(0), Decimal(0)), 1500
    )
    ran = await executor.tick(workspace, timezone="Europe/Berlin", report=False)
    research = next(r for r in ran if r.task.owner == "research")
    assert research.outcome == "failed"
    assert "took longer than the 0.3 s a step may take (SOLOOS_TURN_SECONDS)" in research.text
    _cancel_notices(app, workspace)


def _cancel_notices(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    with app.memory.db.connection() as conn:
        conn.execute("UPDATE schedules SET status = 'cancelled' WHERE workspace = %s AND kind = 'notice'", (workspace,))


async def test_a_lead_whose_reply_the_model_could_not_write_says_so_and_keeps_the_lead(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    broken = Broken(refused, None).tiers()
    deps = TurnDeps(
        app.memory, app.gate, workspace, "tester", "k", "deterministic", broken, "strong",
        Budget(Decimal(5), Decimal(50)), Prices(Decimal(0), Decimal(0)), "",
    )  # fmt: skip
    lead = Lead("Ann Lee", "ann@lee.test", "bookkeeping", "chat:ann@lee.test", "chat", app.memory.clock.now())
    taken = await take_lead(
        lead,
        memory=app.memory,
        gate=app.gate,
        workspace=workspace,
        operator="tester",
        intent_key="k",
        timezone="Europe/Berlin",
        signature="Sam",
        write=draft_writer(deps),
    )
    assert taken.approval is not None  # the template's reply waits for approval: the lead is not lost
    assert (
        "The model could not write the reply (cannot connect (connection refused or unknown host)), so it is the "
        "template's; " + CHECK in taken.text
    )
