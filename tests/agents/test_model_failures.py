"""When every model tier fails, the operator reads which tier failed how and what to check, never
"Something went wrong", and the log holds one warning line (issue 14)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from pydantic_ai.exceptions import ModelConnectionError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agents import ModelTiers
from tests.support.chat import FakeChat

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
