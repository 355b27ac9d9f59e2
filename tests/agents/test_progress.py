"""``agents.progress``: what a turn is doing reaches whoever listens to that turn, and nobody else."""

from __future__ import annotations

import asyncio

from agents import progress


def test_a_report_with_nobody_listening_does_nothing() -> None:
    progress.report("Research is looking into it…")  # no listener: no error, nothing kept
    progress.started("finance")


async def test_lines_reach_the_listener_also_from_tasks_the_turn_starts() -> None:
    heard: list[str] = []

    async def tool() -> None:  # pydantic-ai runs tool calls in tasks of their own
        progress.started("research")

    with progress.listening(heard.append):
        progress.report("Thinking…")
        await asyncio.gather(asyncio.create_task(tool()))
    progress.report("after the turn")
    assert heard == ["Thinking…", "Research is looking into it…"]


async def test_two_turns_at_once_each_hear_their_own() -> None:
    first: list[str] = []
    second: list[str] = []

    async def turn(heard: list[str], specialist: progress.Specialist) -> None:
        with progress.listening(heard.append):
            await asyncio.sleep(0.01)
            progress.started(specialist)

    await asyncio.gather(turn(first, "research"), turn(second, "drafting"))
    assert first == ["Research is looking into it…"] and second == ["Drafting is writing…"]


def test_a_failing_listener_never_fails_the_turn() -> None:
    def broken(_line: str) -> None:
        raise RuntimeError("the screen is gone")

    with progress.listening(broken):
        progress.started("scheduling")  # logged, not raised
