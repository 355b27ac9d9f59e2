"""``soloos doctor`` asks each configured model for one token with the configured timeout, so "fast
model ok" with nothing listening is impossible; and it says how each model is priced against the
spend caps, warning when the price is unknown (issue 16)."""

from __future__ import annotations

import pydantic_ai.models
import pytest

from bot.doctor import Check, learning_checks, model_checks
from bot.settings import Settings
from tests.support.llama_server import LlamaServer, unused_port


@pytest.fixture
def local_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # 127.0.0.1 only
    monkeypatch.setenv("OPENAI_API_KEY", "sk-no-key-required")

    def build(base_url: str, **changed: object) -> Settings:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        update = {
            "model_fast": "openai-chat:qwen-fast",
            "model_strong": None,
            "model_timeout_seconds": 2.0,
            "price_input_per_mtok": None,
            "price_output_per_mtok": None,
            **changed,
        }
        return settings.model_copy(update=update)

    return build


def named(checks: list[Check], name: str) -> Check:
    return next(c for c in checks if c.name == name)


async def test_a_listening_server_is_asked_for_one_token(local_settings, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    checks = await model_checks(local_settings(llama.base_url))
    fast = named(checks, "fast model")
    assert fast.status == "ok" and f"at {llama.base_url}" in fast.detail and "answered in" in fast.detail
    assert len(llama.requests) == 1 and llama.requests[0]["max_tokens"] == 1


async def test_nothing_listening_is_a_failure_with_the_fix(local_settings) -> None:  # type: ignore[no-untyped-def]
    checks = await model_checks(local_settings(f"http://127.0.0.1:{unused_port()}/v1"))
    fast = named(checks, "fast model")
    assert fast.status == "fail"
    assert fast.detail == "openai-chat:qwen-fast: cannot connect (connection refused or unknown host)"
    assert "OPENAI_BASE_URL" in fast.fix


async def test_a_server_slower_than_the_timeout_fails_naming_the_setting(local_settings, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    llama.delay = 1.5
    checks = await model_checks(local_settings(llama.base_url, model_timeout_seconds=0.5))
    fast = named(checks, "fast model")
    assert fast.status == "fail" and "no answer within 0.5 s" in fast.detail
    assert "SOLOOS_MODEL_TIMEOUT_SECONDS" in fast.fix


async def test_a_model_on_this_machine_counts_as_free(local_settings, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    price = named(await model_checks(local_settings(llama.base_url)), "fast model price")
    assert price.status == "ok" and "served from this machine: counted as free ($0)" in price.detail


async def test_an_unknown_remote_model_without_a_price_is_a_warning(local_settings, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    remote = llama.base_url.replace("127.0.0.1", "localhost.localdomain.invalid")
    price = named(await model_checks(local_settings(remote, budget_daily_usd=2.0)), "fast model price")
    assert price.status == "warn"
    assert price.detail == (
        "the price of openai-chat:qwen-fast is unknown, so your $2.00 daily cap cannot be enforced: "
        "model requests are refused until a price is set"
    )
    assert "SOLOOS_PRICE_INPUT_PER_MTOK" in price.fix


async def test_a_configured_price_is_shown_for_an_unknown_model(local_settings, llama: LlamaServer) -> None:  # type: ignore[no-untyped-def]
    checks = await model_checks(local_settings(llama.base_url, price_input_per_mtok=0.2, price_output_per_mtok=0.6))
    price = named(checks, "fast model price")
    assert price.status == "ok" and "$0.2 in / $0.6 out per 1M tokens" in price.detail


def test_learning_is_said_to_need_a_bigger_window_than_a_small_local_model_has(local_settings) -> None:  # type: ignore[no-untyped-def]
    [small] = learning_checks(local_settings("http://127.0.0.1:9/v1", model_fast_context=4_096))
    assert small.status == "warn" and "4,096 tokens" in small.detail and "nothing is learned" in small.detail
    [roomy] = learning_checks(local_settings("http://127.0.0.1:9/v1", model_fast_context=32_768))
    assert roomy.status == "ok"
    [off] = learning_checks(local_settings("http://127.0.0.1:9/v1", learning=False))
    assert off.status == "off"
    assert learning_checks(local_settings("http://127.0.0.1:9/v1", model_fast=None)) == []
