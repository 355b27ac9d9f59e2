"""Limits and the one retry policy (issue 16): every request carries the output limit; a failed request
is tried at most 1 + SOLOOS_MODEL_RETRIES times in all, the retry going to the other tier when both are
set; what cannot succeed again is not retried; each failure is named with what to do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import FallbackExceptionGroup, ModelConnectionError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agents import ModelTiers
from agents.failures import CHECK, OVERFLOW, RATE_LIMITED
from agents.models import ModelLimits
from tests.support.chat import FakeChat

QUESTION = "is it sunny in Berlin"
Answer = Any  # an exception to raise, or a response to give


@dataclass
class Counted:
    """Two scripted tiers that count their requests and remember the settings each carried."""

    fast: Answer
    strong: Answer | None = None
    limits: ModelLimits = field(default_factory=ModelLimits)
    calls: list[str] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)

    def _model(self, name: str, answer: Answer) -> FunctionModel:
        async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            self.calls.append(name)
            self.settings.append(dict(info.model_settings or {}))
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer):
                result: ModelResponse = await answer()
                return result
            return answer  # type: ignore[no-any-return]

        return FunctionModel(respond, model_name=name)

    def tiers(self) -> ModelTiers:
        strong = self._model("gpt-4o", self.strong) if self.strong is not None else None
        return ModelTiers(self._model("llama3", self.fast), strong, limits=self.limits)


def text(value: str, finish: str = "stop") -> ModelResponse:
    return ModelResponse(
        parts=[TextPart(value)], usage=RequestUsage(input_tokens=10, output_tokens=5), finish_reason=finish
    )  # type: ignore[arg-type]


def server_error() -> ModelHTTPError:
    return ModelHTTPError(500, "llama3", {"error": {"message": "llama_decode failed"}})


def refused() -> ModelConnectionError:
    err = ModelConnectionError("llama3", "Connection error.")
    err.__cause__ = httpx.ConnectError("[Errno 111] Connection refused")
    return err


def overflow(model: str = "gpt-4o") -> ModelHTTPError:
    return ModelHTTPError(
        400,
        model,
        {
            "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "131000 tokens.",
            "type": "invalid_request_error",
        },
    )


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_every_request_carries_the_output_limit_and_the_timeout(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    tiers = Counted(text("Sunny."), limits=ModelLimits(max_tokens=300, timeout_seconds=7))
    reply = await FakeChat(with_model(tiers), workspace).say(QUESTION)
    assert reply == "Sunny."
    assert tiers.settings and all(s["max_tokens"] == 300 and s["timeout"] == 7 for s in tiers.settings)


@pytest.mark.parametrize(
    ("fast", "strong", "retries", "calls"),
    [
        (server_error(), server_error(), 1, ["llama3", "gpt-4o"]),  # the retry is the other tier
        (server_error(), None, 1, ["llama3", "llama3"]),  # one tier: the retry is the same model
        (server_error(), server_error(), 0, ["llama3"]),
        (server_error(), server_error(), 3, ["llama3", "gpt-4o", "llama3", "gpt-4o"]),
        (ModelHTTPError(401, "llama3"), None, 1, ["llama3"]),  # the same key again cannot help
        (ModelHTTPError(401, "llama3"), server_error(), 1, ["llama3", "gpt-4o"]),  # another key may
        (overflow("llama3"), server_error(), 2, ["llama3"]),  # the same text fits no better anywhere
    ],
)
async def test_a_failed_request_is_tried_at_most_one_plus_retries_times_in_all(  # type: ignore[no-untyped-def]
    with_model, workspace: str, fast: Answer, strong: Answer, retries: int, calls: list[str]
) -> None:
    tiers = Counted(fast, strong, limits=ModelLimits(retries=retries))
    await FakeChat(with_model(tiers), workspace).say(QUESTION)
    assert tiers.calls == calls


async def test_a_context_overflow_says_trying_again_will_not_help(  # type: ignore[no-untyped-def]
    with_model, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(with_model(Counted(overflow("llama3"))), workspace).say(QUESTION)
    assert reply == (
        "The model failed: fast (function:llama3) — the request is larger than the model's context (HTTP 400); "
        "nothing was sent. " + OVERFLOW
    )
    no_traceback(caplog)


async def test_a_rate_limit_says_to_wait(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    reply = await FakeChat(with_model(Counted(ModelHTTPError(429, "llama3"))), workspace).say(QUESTION)
    assert reply == (
        "The model failed: fast (function:llama3) — HTTP 429 too many requests; nothing was sent. " + RATE_LIMITED
    )


async def test_a_slow_scripted_model_times_out_naming_the_setting(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    async def slow() -> ModelResponse:
        await asyncio.sleep(1.0)
        return text("late")

    tiers = Counted(slow, limits=ModelLimits(timeout_seconds=0.2, retries=0))
    reply = await FakeChat(with_model(tiers), workspace).say(QUESTION)
    assert "no answer within 0.2 s" in reply and "SOLOOS_MODEL_TIMEOUT_SECONDS" in reply


async def test_a_cut_off_tool_call_is_invalid_output_naming_the_limit(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    cut = ModelResponse(
        parts=[ToolCallPart("send_email", '{"to": "jane@acme.example", "subj')],
        usage=RequestUsage(input_tokens=10, output_tokens=1024),
        finish_reason="length",
    )
    reply = await FakeChat(with_model(Counted(cut)), workspace).say(QUESTION)
    assert reply == (
        "The model's answer was cut off at the 1,024-token output limit before it was complete, so I could not "
        "use it; nothing was sent. Ask for something smaller, or raise SOLOOS_MODEL_MAX_TOKENS."
    )


async def test_invalid_output_after_retries_is_named(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    bad = ModelResponse(parts=[ToolCallPart("no_such_tool", {})], usage=RequestUsage(input_tokens=10, output_tokens=5))
    reply = await FakeChat(with_model(Counted(bad)), workspace).say(QUESTION)
    assert reply == (
        "The model's answer was not usable (Tool 'no_such_tool' exceeded max retries count of 1); nothing was sent. "
        "Try again, perhaps rephrased; a small model may need a stronger one (SOLOOS_MODEL_STRONG)."
    )


async def test_a_model_failure_that_escapes_the_runner_is_still_named(  # type: ignore[no-untyped-def]
    with_model, workspace: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = with_model(Counted(text("unused")))

    async def escaped(*args: object, **kwargs: object) -> object:
        raise FallbackExceptionGroup("All models from FallbackModel failed", [refused()])

    monkeypatch.setattr(app.runner, "run", escaped)
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(app, workspace).say(QUESTION)
    assert reply == (
        "The model failed: fast (function:llama3) — cannot connect (connection refused or unknown host); "
        "nothing was changed. " + CHECK
    )
    no_traceback(caplog)


async def test_a_streamed_request_carries_the_limits_too() -> None:
    """An agent with an event handler streams without being asked to: the limits hold there as well."""
    seen: list[dict[str, Any]] = []

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        seen.append(dict(info.model_settings or {}))
        yield "Sunny."

    tiers = ModelTiers(FunctionModel(stream_function=stream, model_name="llama3"), None, limits=ModelLimits(77))
    _, model = tiers.pick("fast")
    async with Agent(model).run_stream(QUESTION) as result:
        assert await result.get_output() == "Sunny."
    assert seen and seen[0]["max_tokens"] == 77
