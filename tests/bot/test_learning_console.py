"""Issue 17 as an operator meets it: real ``soloos chat`` processes pointed at a local
OpenAI-compatible model server whose answers are scripted — mem0's extraction prompt gets mem0's
JSON, every other request a plain reply. A fact said in passing is learned in the background, recalled
by a later process, updated by a contradicting statement (the old one kept as history), listed in the
next briefing, and forgotten with its button."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tests.support.learning import MEM0_SYSTEM_MARK, mem0_json
from tests.support.llama_server import LlamaServer
from tests.support.processes import SOLOOS, env_for

LATE = "Acme just told me they will pay invoice 42 about three weeks late this month"
SOONER = "Acme called again: they will pay invoice 42 next Friday after all"
LATE_FACT = "[fact: acme · invoice 42 payment] Acme will pay invoice 42 about three weeks late this month"
SOONER_FACT = "[fact: acme · invoice 42 payment] Acme will pay invoice 42 next Friday"
WAIT = 90.0


def _said(body: dict[str, Any]) -> str:
    return "\n".join(str(message.get("content")) for message in body.get("messages", []))


def _is_extraction(body: dict[str, Any]) -> bool:
    return any(
        message.get("role") == "system" and MEM0_SYSTEM_MARK in str(message.get("content"))
        for message in body.get("messages", [])
    )


def _answer(body: dict[str, Any]) -> str:
    if not _is_extraction(body):
        return "Thanks, understood."
    new = _said(body).split("## New Messages", 1)[-1]
    if "next Friday" in new:
        return mem0_json(SOONER_FACT)
    if "three weeks late" in new:
        return mem0_json(LATE_FACT)
    return mem0_json()


class Console:
    """One ``soloos chat`` process, spoken to line by line while the model stand-in keeps serving."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[str] = []

    @classmethod
    async def start(cls, home: Path, llama: LlamaServer) -> Console:
        env = env_for(
            home,
            OPENAI_BASE_URL=llama.base_url,
            OPENAI_API_KEY="local",
            SOLOOS_MODEL_FAST=f"openai-chat:{llama.model}",
            SOLOOS_MODEL_FAST_CONTEXT="32768",
            SOLOOS_LEARNING_POLL_SECONDS="0.2",
        )
        proc = await asyncio.create_subprocess_exec(
            SOLOOS,
            "chat",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def until(self, pattern: str) -> str:
        """Read output lines until one matches ``pattern``; returns that line."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(WAIT):
                return await self._read_until(pattern)
        except TimeoutError:
            raise AssertionError(f"no line matching {pattern!r} within {WAIT:.0f} s; saw {self.seen}") from None

    async def _read_until(self, pattern: str) -> str:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                stderr = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"chat ended before {pattern!r}; saw {self.seen}; stderr: {stderr.decode()}")
            line = raw.decode().rstrip("\n")
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        async with asyncio.timeout(WAIT):
            await self.proc.wait()
        assert self.proc.returncode == 0, self.seen


async def test_a_fact_said_in_passing_is_learned_recalled_updated_briefed_and_forgotten(
    tmp_path: Path, llama: LlamaServer
) -> None:
    llama.n_ctx = 32_768
    llama.respond = _answer

    first = await Console.start(tmp_path, llama)
    await first.say(LATE)
    noted = await first.until(r"^Noted: ")
    assert "Acme will pay invoice 42 about three weeks late this month" in noted
    await first.close()
    extractions = [body for body in llama.requests if _is_extraction(body)]
    assert len(extractions) == 1 and LATE in _said(extractions[0])

    # A later process: the fact is in the model's context for a question about it, a contradicting
    # statement replaces it (mem0 is shown the old fact with its subject), the briefing lists both.
    second = await Console.start(tmp_path, llama)
    asked = len(llama.requests)
    await second.say("When is Acme paying invoice 42?")
    await second.until(r"Thanks, understood")
    question = [body for body in llama.requests[asked:] if not _is_extraction(body)]
    assert question and "three weeks late" in _said(question[0])

    await second.say(SOONER)
    updated = await second.until(r"^Updated: ")
    assert "next Friday" in updated and "(was: Acme will pay invoice 42 about three weeks late" in updated
    shown = _said([body for body in llama.requests if _is_extraction(body)][-1])
    assert "[fact: acme · invoice 42 payment] Acme will pay invoice 42 about three weeks late" in shown

    await second.say("/brief now")
    await second.until(r"^Learned since the last briefing")
    listed = await second.until(r"next Friday")
    number = re.match(r"^\s*(\d+)\.", listed)
    assert number, listed
    choices = await second.until(r"\[\d+\] Forget")
    picked = re.search(rf"\[(\d+)\] Forget {number.group(1)}\b", choices)
    assert picked, choices
    await second.say(picked.group(1))
    await second.until(r"^Forgot: Acme will pay invoice 42 next Friday")
    await second.until(r"What I had before holds again: Acme will pay invoice 42 about three weeks late")
    await second.close()

    # And in a third process, the older fact is the one the model is given again.
    third = await Console.start(tmp_path, llama)
    await third.say("/memory learned")
    await third.until(r"three weeks late")
    asked = len(llama.requests)
    await third.say("When is Acme paying invoice 42?")
    await third.until(r"Thanks, understood")
    context = _said(next(body for body in llama.requests[asked:] if not _is_extraction(body)))
    assert "Acme will pay invoice 42 about three weeks late" in context
    await third.close()
