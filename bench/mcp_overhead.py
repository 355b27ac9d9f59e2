"""What SoloOS adds to an MCP tool call, and what connected tools cost the prompt.

1. Per call: the same tool (``echo`` of the Python test server, tests/support/mcp_servers.py) called N
   times directly with the ``mcp`` SDK client, then N times the way a model's call goes through SoloOS
   (``Action`` → ``Gate.submit``: policy, audit row and idempotency key in one transaction, the call
   bridged from the gate's worker thread to the session, the result fenced and tainting the turn).
   p50/p95 of each and of the difference.
2. Per turn: the prompt tokens the MCP tools add with 50 connected tools: as offered (``mcp_call`` with
   the relevant tool names and ``find_tools``) and if every tool were offered as its own definition.

    python -m bench.mcp_overhead [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import tempfile
import time
from pathlib import Path

from agents.mcp_tools import prompt_tokens
from agents.untrusted import Taint, fence, reading
from bot.app import open_app, quiet_libraries
from bot.settings import Settings
from connectors.mcp import McpConfig
from policies import MCP_CALL, Action
from tests.support.mcp_servers import python_command

POLICY = "name: bench\nactions: {}\nmcp:\n  test: {level: allow}\n"


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def direct(calls: int) -> list[float]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    argv = shlex.split(python_command())
    times = []
    async with Client(StdioServerParameters(command=argv[0], args=argv[1:]), mode="legacy") as client:
        await client.call_tool("echo", {"text": "warm"})
        for i in range(calls):
            start = time.perf_counter()
            await client.call_tool("echo", {"text": f"hello {i}"})
            times.append(time.perf_counter() - start)
    return times


async def main(calls: int) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-mcp-"))
    (home / "policy.yaml").write_text(POLICY)
    print(f"machine: {os.cpu_count()} cores; N = {calls} calls of echo on the Python test server (stdio)")
    settings = Settings(home=home, _env_file=None, database_url=None, policy_file=home / "policy.yaml")  # type: ignore[call-arg]
    plain = await direct(calls)
    async with open_app(settings) as app:
        await app.mcp.start([McpConfig(name="test", command=python_command())])
        gated = []
        for i in range(calls + 1):
            action = Action(MCP_CALL, {"server": "test", "tool": "echo", "arguments": {"text": f"hello {i}"}}, "echo")
            taint = Taint()
            start = time.perf_counter()
            done = await app.gate.submit(
                action, workspace="bench", operator="bench", intent_key=f"bench:{i}", mode="deterministic", key=f"k{i}"
            )
            with reading(taint):
                fence("mcp:test/echo", getattr(done, "result", "") or "", origin="mcp:test/echo")
            if i:  # the first warms the pool
                gated.append(time.perf_counter() - start)
        await app.mcp.stop()
        await app.mcp.start([McpConfig(name="many", command=f"env MCP_TEST_EXTRA=45 {python_command()}")])
        offered, every = prompt_tokens(app.mcp, "find the open support tickets for Acme")
        count = len(app.mcp.tools())
        await app.mcp.stop()
    print(f"direct MCP call:       p50 {_p(plain, 50):7.2f} ms  p95 {_p(plain, 95):7.2f} ms")
    print(f"through SoloOS's gate: p50 {_p(gated, 50):7.2f} ms  p95 {_p(gated, 95):7.2f} ms")
    added50, added95 = _p(gated, 50) - _p(plain, 50), _p(gated, 95) - _p(plain, 95)
    print(f"added per call:        p50 {added50:7.2f} ms  p95 {added95:7.2f} ms")
    print(f"prompt tokens per turn for {count} connected tools: {offered} as offered (mcp_call + find_tools),")
    print(f"  {every} if every tool were offered as its own definition")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args().calls))
