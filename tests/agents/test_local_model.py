"""The whole model path against a local OpenAI-compatible server that behaves like llama.cpp (issue 16):
down, a context-size 400, a repeatable 500, a slow answer, a cut-off answer. Every reply names what
happened, no traceback reaches the log, every request carries an output limit, and a repeatable
failure costs at most 1 + SOLOOS_MODEL_RETRIES requests across both tiers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pydantic_ai.models
import pytest

from agents.failures import CHECK, OVERFLOW
from bot.app import App, wire
from bot.settings import Settings
from tests.support.chat import FakeChat
from tests.support.llama_server import LlamaServer, unused_port

QUESTION = "is it sunny in Berlin"


Build = Callable[..., App]


@pytest.fixture
def local(app: App, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Build:
    """The session's app rewired the way an operator points SoloOS at llama.cpp: ``openai-chat:<model>``
    with OPENAI_BASE_URL (and any key), through the composition root."""
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # 127.0.0.1 only

    def build(base_url: str, *, strong: bool = False, **changed: Any) -> App:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-no-key-required")
        update: dict[str, Any] = {
            "model_fast": "openai-chat:qwen-fast",
            "model_strong": "openai-chat:qwen-strong" if strong else None,
            "model_max_tokens": 256,
            "model_timeout_seconds": 5.0,
            "model_retries": 1,
            "price_input_per_mtok": None,
            "price_output_per_mtok": None,
            **changed,
        }
        return wire(settings.model_copy(update=update), app.memory)

    return build


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_local_server_answers_and_every_request_carries_the_output_limit(
    local: Build, llama: LlamaServer, workspace: str
) -> None:
    reply = await FakeChat(local(llama.base_url), workspace).say(QUESTION)
    assert reply == "Done."
    assert llama.requests and all(body.get("max_tokens") == 256 for body in llama.requests)


async def test_a_server_that_is_down_is_named_with_what_to_check(
    local: Build, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = local(f"http://127.0.0.1:{unused_port()}/v1", strong=True)
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(app, workspace).say(QUESTION)
    assert reply == (
        "Both models failed: fast (openai:qwen-fast) — cannot connect (connection refused or unknown host); "
        "strong (openai:qwen-strong) — cannot connect (connection refused or unknown host); nothing was sent. " + CHECK
    )
    no_traceback(caplog)
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["agents.failures"]  # one line


async def test_a_context_overflow_is_named_and_not_retried_on_either_tier(
    local: Build, llama: LlamaServer, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    llama.n_ctx = 200
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(local(llama.base_url, strong=True), workspace).say(QUESTION)
    assert reply.startswith(
        "The model failed: fast (openai:qwen-fast) — the request is larger than the model's context ("
    )
    assert "tokens; it holds 200); nothing was sent. " + OVERFLOW in reply
    assert len(llama.requests) == 1
    no_traceback(caplog)


@pytest.mark.parametrize("strong", [False, True])
async def test_a_repeatable_server_error_costs_one_retry_in_all(
    local: Build, llama: LlamaServer, workspace: str, strong: bool, caplog: pytest.LogCaptureFixture
) -> None:
    llama.fail_on = ("Berlin",)
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(local(llama.base_url, strong=strong), workspace).say(QUESTION)
    assert len(llama.requests) == 2  # 1 + SOLOOS_MODEL_RETRIES, across both tiers (it was 6)
    if strong:
        assert reply.startswith(
            "Both models failed: fast (openai:qwen-fast) — HTTP 500 internal server error; "
            "strong (openai:qwen-strong) — HTTP 500 internal server error; nothing was sent."
        )
    else:
        assert reply == (
            "The model failed: fast (openai:qwen-fast) — HTTP 500 internal server error; nothing was sent. " + CHECK
        )
    assert all(body.get("max_tokens") == 256 for body in llama.requests)
    no_traceback(caplog)


async def test_no_retries_means_one_request(local: Build, llama: LlamaServer, workspace: str) -> None:
    llama.fail_on = ("Berlin",)
    await FakeChat(local(llama.base_url, strong=True, model_retries=0), workspace).say(QUESTION)
    assert len(llama.requests) == 1


async def test_a_slow_answer_past_the_timeout_names_the_setting(
    local: Build, llama: LlamaServer, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    llama.delay = 1.5
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(local(llama.base_url, model_timeout_seconds=0.5), workspace).say(QUESTION)
    assert reply == (
        "The model failed: fast (openai:qwen-fast) — no answer within 0.5 s; nothing was sent. A model request may "
        "take 0.5 s (SOLOOS_MODEL_TIMEOUT_SECONDS): raise it for a slow local model, or use a faster one."
    )
    assert len(llama.requests) == 2
    no_traceback(caplog)


async def test_a_slow_answer_within_the_timeout_is_the_answer(local: Build, llama: LlamaServer, workspace: str) -> None:
    llama.delay = 0.3
    reply = await FakeChat(local(llama.base_url, model_timeout_seconds=2.0), workspace).say(QUESTION)
    assert reply == "Done."


async def test_a_turn_past_its_wall_time_says_so(
    local: Build, llama: LlamaServer, workspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    llama.delay = 1.5
    with caplog.at_level(logging.INFO):
        reply = await FakeChat(local(llama.base_url, turn_seconds=0.5), workspace).say(QUESTION)
    assert reply == (
        "That took longer than the 0.5 s a turn may take (SOLOOS_TURN_SECONDS); I stopped; nothing was sent. "
        "Try a narrower request, or a faster model."
    )
    no_traceback(caplog)


async def test_a_reply_cut_off_by_the_output_limit_is_marked(local: Build, llama: LlamaServer, workspace: str) -> None:
    llama.answer = "It is sunny in Berlin today, with a light breeze from the west and no rain expected."
    llama.cut_at = 30
    reply = await FakeChat(local(llama.base_url), workspace).say(QUESTION)
    assert reply == (
        "It is sunny in Berlin today, w\n\n[Cut off: the model reached its output limit before this reply was "
        "complete (SOLOOS_MODEL_MAX_TOKENS is 256; a model server may stop sooner).]"
    )


async def test_an_ollama_model_string_reaches_the_server_with_the_output_limit(
    local: Build, llama: LlamaServer, workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", llama.base_url)
    app = local(llama.base_url, model_fast="ollama:qwen2.5-coder:1.5b")
    reply = await FakeChat(app, workspace).say(QUESTION)
    assert reply == "Done."
    assert llama.requests[0]["model"] == "qwen2.5-coder:1.5b" and llama.requests[0]["max_tokens"] == 256


async def test_text_shaped_like_a_tool_call_sends_nothing(local: Build, llama: LlamaServer, workspace: str) -> None:
    """What a small model writes when its chat template lost the tool-call tags: asked once to make the
    call properly, then refused in our words; never an action, never shown, never carried into later turns."""
    llama.tool_text = {"name": "send_email", "arguments": {"to": "jane@acme.example", "subject": "Hi", "body": "x"}}
    chat = FakeChat(local(llama.base_url), workspace)
    reply = await chat.say("email Jane at Acme that we are on for Friday")
    assert reply.startswith("The model wrote a tool call as text (send_email) instead of making it, so nothing was")
    assert "jane@acme.example" not in reply and not chat.replies[-1].buttons  # not shown, nothing to approve
    assert len(llama.requests) == 2  # the first answer, and the one retry it was asked for
    assert all(body.get("max_tokens") == 256 for body in llama.requests)
    llama.tool_text, llama.answer = None, "Nothing is planned for Friday yet."
    assert await chat.say("what is planned for Friday?") == "Nothing is planned for Friday yet."
    assert "jane@acme.example" not in str(llama.requests[-1]["messages"])  # the call text is not in later context
