"""``python -m tests.support.scripted_plan_chat``: the console assistant with a scripted planner and
specialists instead of a provider. "/objective Land 3 new retainer clients by March" becomes a
two-project plan; after approval the research step searches memory and answers, the ranking step
keeps failing (so it retries from its checkpoint, then comes to you), and /brief shows progress.
Used by tests/bot/test_plan_console.py and to try plans by hand."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart

from bot.app import open_app
from bot.console import run_interactive, run_piped
from bot.settings import Settings
from tests.support.plan_models import USAGE, PlanScript, fail, has_tool_result, retainer_plan

_asked: list[int] = []  # research requests made by this process


def _research(messages: list[ModelMessage]) -> ModelResponse:
    """Searches memory first, then answers. With SOLOOS_DEMO_SLOW_RESEARCH=<seconds> it stalls
    before answering (after touching SOLOOS_DEMO_MARKER), so a test can kill the process there;
    a process that starts with the search already in the history says it resumed."""
    _asked.append(1)
    if not has_tool_result(messages, "search_memory"):
        return ModelResponse(parts=[ToolCallPart("search_memory", {"query": "ideal client"})], usage=USAGE)
    slow = float(os.environ.get("SOLOOS_DEMO_SLOW_RESEARCH", "0"))
    if slow:
        Path(os.environ["SOLOOS_DEMO_MARKER"]).touch()
        time.sleep(slow)
    resumed = " (resumed from the checkpoint: the search was not repeated)" if len(_asked) == 1 else ""
    return ModelResponse(parts=[TextPart(f"20 agencies that fit: Northwind, Globex, Initech, …{resumed}")], usage=USAGE)


def script() -> PlanScript:
    return retainer_plan(Research=[_research], Rank=[fail("the finance model is overloaded")])


async def main() -> int:
    async with open_app(Settings(), tiers=script().tiers()) as app:
        await app.plans.start()
        if sys.stdin.isatty():
            await run_interactive(app)
            return 0
        return await run_piped(app, sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main()) else 0)
