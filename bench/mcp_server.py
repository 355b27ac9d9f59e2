"""What ``soloos mcp`` adds to a recall: the same query in this process and through the MCP server over stdio.

    .venv/bin/python -m bench.mcp_server [--calls 200] [--memories 200]

In process: ``memory.recall`` and the ``recall`` tool's own work (``Offering.recall``: the query,
the hybrid recall with a real embedding, the answer's lines). Over stdio: a real MCP client (the
``mcp`` SDK) calls ``recall`` on ``soloos mcp`` started as a subprocess on the same database (the
embedded server is shared), so the difference is the protocol, the pipe and the SDK on both sides.
Also printed: how long the client waits for ``initialize`` (the process start, the database
connection, the embedder load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp_types import Implementation

from bot.app import open_app, quiet_libraries
from bot.mcp import Offering
from bot.settings import Settings

WORKSPACE = "bench"
QUERIES = ("how does client {n} pay", "what does client {n} prefer", "client {n} invoices")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def interleaved(calls: int, ways: dict[str, Callable[[str], Awaitable[object]]]) -> dict[str, list[float]]:
    """Each query through every way in turn, so a busy moment of the (shared) machine hits all alike."""
    for n in range(5):  # warm up
        for call in ways.values():
            await call(QUERIES[n % 3].format(n=n))
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    for n in range(calls):
        query = QUERIES[n % 3].format(n=n % 200)
        for name, call in ways.items():
            began = time.perf_counter()
            await call(query)
            latencies[name].append((time.perf_counter() - began) * 1000)
    return latencies


def line(name: str, latencies: list[float]) -> str:
    return (
        f"{name:<34} p50 {statistics.median(latencies):6.1f} ms  p95 {percentile(latencies, 95):6.1f} ms  "
        f"mean {statistics.fmean(latencies):6.1f} ms  ({len(latencies)} calls)"
    )


async def main(calls: int, memories: int) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-mcp-bench-"))
    try:
        settings = Settings(home=home, _env_file=None, database_url=None, workspace=WORKSPACE)  # type: ignore[call-arg]
        async with open_app(settings) as app:
            for i in range(memories):
                await app.memory.remember(
                    f"Client {i} prefers e-mail and pays within {i % 60} days", layer="project", workspace=WORKSPACE
                )
            offering = Offering(app.memory, app.gate, WORKSPACE, settings.operator, "UTC", app.runner.budget)

            async def memory_recall(query: str) -> object:
                return await app.memory.recall(query, workspace=WORKSPACE, k=5)

            async def tool_recall(query: str) -> object:
                return await offering.recall(query, 5)

            env = {k: v for k, v in os.environ.items() if not k.startswith("SOLOOS_") and k != "DATABASE_URL"}
            env.update(SOLOOS_HOME=str(home), SOLOOS_WORKSPACE=WORKSPACE)
            params = StdioServerParameters(command=str(Path(sys.executable).with_name("soloos")), args=["mcp"], env=env)
            began = time.perf_counter()
            async with (
                stdio_client(params) as (read, write),
                ClientSession(read, write, client_info=Implementation(name="bench", version="1")) as client,
            ):
                await client.initialize()
                started = (time.perf_counter() - began) * 1000

                async def over_stdio(query: str) -> object:
                    result = await client.call_tool("recall", {"query": query, "k": 5})
                    assert not result.is_error, result
                    return result

                ways = {
                    "memory.recall, in process": memory_recall,
                    "recall tool (Offering), in process": tool_recall,
                    "recall through soloos mcp (stdio)": over_stdio,
                }
                latencies = await interleaved(calls, ways)
            for name, values in latencies.items():
                print(line(name, values))
            extra = [
                b - a
                for a, b in zip(
                    latencies["recall tool (Offering), in process"],
                    latencies["recall through soloos mcp (stdio)"],
                    strict=True,
                )
            ]
            print(
                f"{'added by MCP over stdio, per call':<34} median {statistics.median(extra):6.1f} ms "
                f"(paired: the same query in process, then through the server)"
            )
            print(f"{'initialize (start, database, embedder)':<34} {started:8.0f} ms once per client start")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--memories", type=int, default=200)
    args = parser.parse_args()
    print(
        f"conditions: {os.cpu_count()} cores (shared), embedded PostgreSQL, local embedder (all-MiniLM-L6-v2), "
        f"{args.memories} memories in the workspace, k=5, one call at a time"
    )
    asyncio.run(main(args.calls, args.memories))
