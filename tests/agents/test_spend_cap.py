"""The hard spend cap holds however many turns run at once, and the per-turn token limit holds
before a request is paid for (issue #14: 8 concurrent turns used to send 3.2× a $0.01 cap)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import pytest
from pydantic_ai.messages import ModelRequest
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import RequestUsage

from agents import Budget, ModelTiers, Prices
from agents.models import MeteredModel, ModelLimits
from bot.app import App, wire
from memory import MemoryService
from tests.support import spend
from tests.support.chat import FakeChat
from tests.support.models import Script, call, say

EIGHT = 8


async def _ledger(memory: MemoryService, workspace: str) -> tuple[int, Decimal]:
    def run() -> tuple[int, Decimal]:
        with memory.db.connection() as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(cost), 0) FROM spend_ledger WHERE workspace = %s AND NOT cached",
                (workspace,),
            ).fetchone()
        assert row is not None
        return int(row[0]), Decimal(row[1])

    return await asyncio.to_thread(run)


def _estimate(memory: MemoryService, workspace: str) -> Decimal:
    model = spend.metered(memory.agent_store, workspace)
    return model.estimate([ModelRequest.user_text_prompt("child 0")], None, ModelRequestParameters())


async def test_concurrent_requests_in_one_process_pass_the_cap_by_at_most_one_estimate(
    memory: MemoryService, workspace: str
) -> None:
    went_out = await spend.race(spend.metered(memory.agent_store, workspace), EIGHT, "parent")
    requests, spent = await _ledger(memory, workspace)
    assert went_out == requests == 1  # the first reservation takes the cap; the other seven are refused
    assert spent <= spend.CAP + _estimate(memory, workspace)


async def test_concurrent_requests_in_two_processes_share_one_cap(memory: MemoryService, workspace: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.spend", memory.db.target.conninfo, workspace, str(EIGHT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        assert await asyncio.to_thread(child.stdout.readline) == "ready\n"
        child.stdin.write("go\n")
        child.stdin.flush()
        ours = await spend.race(spend.metered(memory.agent_store, workspace), EIGHT, "parent")
        theirs = int(await asyncio.to_thread(child.stdout.readline))
    finally:
        child.kill()
        child.wait()
    requests, spent = await _ledger(memory, workspace)
    assert ours + theirs == requests == 1
    assert spent <= spend.CAP + _estimate(memory, workspace)


async def test_eight_concurrent_turns_send_one_request_and_say_the_cap_was_reached(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    script = Script([say(f"answer {n}") for n in range(EIGHT)])
    app: App = with_model(script, daily="0.01", price_in="100", price_out="500")
    replies = await asyncio.gather(*(FakeChat(app, workspace).say(f"question number {n}") for n in range(EIGHT)))
    refused = [r for r in replies if "daily model budget reached" in r and "no model request" in r]
    assert len(script.calls) == 1 and len(refused) == EIGHT - 1


async def test_a_turn_over_the_token_limit_is_stopped_before_the_request(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    huge = "Subject: notes\n\n" + "a long research result " * 5_000  # ~29,000 tokens for the next request
    script = Script([call("ask_research", question="everything about Acme"), say("never")], specialist=huge)
    app: App = with_model(script)
    reply = await FakeChat(app, workspace).say("tell me everything about Acme")
    assert "more model work than one turn allows" in reply and "nothing was sent" in reply
    assert script.calls == ["coordinator:0", "specialist"]  # the oversized request was never sent


async def test_reading_twenty_long_emails_stays_within_the_inbox_budget(app: App, workspace: str) -> None:
    """One read_inbox of 20 large e-mails used to send a million characters in one request."""
    from types import SimpleNamespace

    from agents.team import INBOX_BUDGET_CHARS, read_inbox
    from memory import NewMessage

    received = app.memory.clock.now()
    await app.memory.messages.store(
        workspace,
        "owner@example.test",
        [
            NewMessage(
                f"<long-{n}@example.test>", f"s{n}@example.test", received, f"S{n}", subject="x", body_text="y" * 50_000
            )
            for n in range(20)
        ],
    )
    ctx = SimpleNamespace(
        deps=SimpleNamespace(memory=app.memory, workspace=workspace, read_budget_chars=INBOX_BUDGET_CHARS)
    )
    shown = await read_inbox(ctx, limit=20)  # type: ignore[arg-type]
    assert len(shown) <= INBOX_BUDGET_CHARS + 200
    assert "more characters not shown" in shown and "older e-mails not shown" in shown


# -- honest cost (issue 16): SOLOOS_PRICE_* is for unknown models only, and unset is not free ---------------


def _metered(memory: MemoryService, workspace: str, model: Model, prices: Prices) -> MeteredModel:
    return MeteredModel(
        model,
        store=memory.agent_store,
        workspace=workspace,
        agent="coordinator",
        tier="fast",
        budget=Budget(Decimal(2), Decimal(30)),
        prices=prices,
    )


def _openai(name: str, base_url: str | None = None) -> Model:
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=base_url, api_key="sk-test"))


MILLION = RequestUsage(input_tokens=1_000_000, output_tokens=1_000_000)


async def test_an_unknown_model_without_a_price_is_refused_while_a_cap_is_set(  # type: ignore[no-untyped-def]
    app: App, settings, workspace: str
) -> None:
    remote = _openai("my-finetune", "https://llm.example.com/v1")  # refused before any request is made
    unpriced = settings.model_copy(
        update={"price_input_per_mtok": None, "price_output_per_mtok": None, "budget_daily_usd": 2.0}
    )
    reply = await FakeChat(wire(unpriced, app.memory, tiers=ModelTiers(remote, None)), workspace).say(
        "is it sunny in Berlin"
    )
    assert reply == (
        "I can't enforce your $2.00 daily cap: the price of openai:my-finetune is unknown. Set "
        "SOLOOS_PRICE_INPUT_PER_MTOK and SOLOOS_PRICE_OUTPUT_PER_MTOK (USD per million tokens; 0 for a free model) "
        "and I will go on. I made no model request; nothing was sent."
    )
    assert await _ledger(app.memory, workspace) == (0, Decimal(0))


def test_a_price_of_zero_is_a_price(memory: MemoryService, workspace: str) -> None:
    remote = _openai("my-finetune", "https://llm.example.com/v1")
    metered = _metered(memory, workspace, remote, Prices(Decimal(0), Decimal(0)))
    assert metered.pricing == "configured" and metered.price_usage(MILLION) == Decimal(0)


def test_a_catalogue_model_keeps_its_list_price_whatever_is_set(memory: MemoryService, workspace: str) -> None:
    metered = _metered(memory, workspace, _openai("gpt-4o-mini"), Prices(Decimal(100), Decimal(500)))
    assert metered.pricing == "list"
    assert metered.price_usage(MILLION) == Decimal("0.75")  # $0.15 in + $0.60 out, not $600


def test_an_unknown_model_is_priced_as_configured(memory: MemoryService, workspace: str) -> None:
    remote = _openai("my-finetune", "https://llm.example.com/v1")
    assert _metered(memory, workspace, remote, Prices()).pricing == "unknown"
    metered = _metered(memory, workspace, remote, Prices(Decimal("0.2"), Decimal("0.6")))
    assert metered.pricing == "configured" and metered.price_usage(MILLION) == Decimal("0.8")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:11434", "[::1]:8080"])
def test_a_model_served_from_this_machine_is_free_while_no_price_is_set(
    memory: MemoryService, workspace: str, host: str
) -> None:
    metered = _metered(memory, workspace, _openai("qwen2.5-coder", f"http://{host}/v1"), Prices())
    assert metered.pricing == "local" and metered.price_usage(MILLION) == Decimal(0)


def test_the_estimate_before_sending_uses_the_configured_output_limit(memory: MemoryService, workspace: str) -> None:
    tiers = ModelTiers(spend.metered(memory.agent_store, workspace).wrapped, None, limits=ModelLimits(max_tokens=100))
    _, model = tiers.pick("fast")
    metered = _metered(memory, workspace, model, Prices(Decimal(0), Decimal(1_000_000)))  # $1 per output token
    prompt = [ModelRequest.user_text_prompt("hello")]
    assert metered.estimate(prompt, None, ModelRequestParameters()) == Decimal(100)
