"""What memory provenance costs a turn: building a turn's context (rules, recall, recent turns) in a
workspace whose memories are all the operator's, against one where half came from outside
(unconfirmed, with an origin, sharing subjects with the operator's facts so the supersession rule
"only a confirmed memory supersedes a confirmed one" has work to do).

    .venv/bin/python -m bench.provenance [--memories 2000] [--turns 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from agents.context import build_context
from agents.untrusted import memory_line
from bot.app import open_app, quiet_libraries
from bot.settings import Settings
from memory import MemoryService

_DAY = datetime(2026, 1, 1, tzinfo=UTC)
ROUNDS = 5


async def _fill(memory: MemoryService, workspace: str, count: int, outside: bool) -> None:
    for i in range(count):
        sender = f"billing@client{i % 100}.test"
        origin = f"email:<m{i}@client{i % 100}.test> from {sender}" if outside and i % 2 else "operator"
        await memory.remember(
            f"Client {i % 100} bank account note {i} ({workspace}): pays within {i % 60} days",
            layer="project",
            workspace=workspace,
            subject=f"client {i % 100} payment terms",
            origin=origin,
        )


async def _context_ms(memory: MemoryService, workspace: str, turns: int, budget: int) -> list[float]:
    timings = []
    for turn in range(turns):
        began = time.perf_counter()
        await build_context(
            memory,
            workspace=workspace,
            conversation="bench",
            message=f"what are the payment terms of client {turn % 100}",
            budget_tokens=budget,
        )
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def main(count: int, turns: int) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-provenance-"))
    try:
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_app(settings) as app:
            await _fill(app.memory, "operator-only", count, outside=False)
            await _fill(app.memory, "half-outside", count, outside=True)
            budget = settings.context_token_budget
            await _context_ms(app.memory, "operator-only", 10, budget)  # warm up
            # The machine is shared: alternate the two in rounds and keep each one's best median.
            results: dict[str, float] = {}
            for _ in range(ROUNDS):
                for workspace in ("operator-only", "half-outside"):
                    median = statistics.median(await _context_ms(app.memory, workspace, turns, budget))
                    results[workspace] = min(results.get(workspace, median), median)
            for workspace, best in results.items():
                print(f"{workspace:>14}: context per turn, best p50 of {ROUNDS} rounds {best:6.2f} ms", flush=True)
            print(f"  difference: {results['half-outside'] - results['operator-only']:+.2f} ms per turn")
        began = time.perf_counter()
        for _ in range(10_000):
            memory_line("Client 7 pays within 30 days", occurred_at=_DAY, ref="1a2b3c4d", unconfirmed_from="x")
        print(f"  labelling one unconfirmed memory line: {(time.perf_counter() - began) * 100:.2f} µs")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    print(f"conditions: {os.cpu_count()} cores, embedded PostgreSQL, local embedder, {args.memories} memories")
    asyncio.run(main(args.memories, args.turns))
