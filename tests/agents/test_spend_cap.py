"""The hard spend cap holds however many turns run at once, and the per-turn token limit holds
before a request is paid for (issue #14: 8 concurrent turns used to send 3.2× a $0.01 cap)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

from pydantic_ai.messages import ModelRequest
from pydantic_ai.models import ModelRequestParameters

from bot.app import App
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
    assert "more model work than one turn allows" in reply and "Nothing was sent" in reply
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
    ctx = SimpleNamespace(deps=SimpleNamespace(memory=app.memory, workspace=workspace))
    shown = await read_inbox(ctx, limit=20)  # type: ignore[arg-type]
    assert len(shown) <= INBOX_BUDGET_CHARS + 200
    assert "more characters not shown" in shown and "older e-mails not shown" in shown
