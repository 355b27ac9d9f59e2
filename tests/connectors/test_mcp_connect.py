"""Connecting the operator's MCP servers: checked before saving, listed with their tools, checked
again, removed with one command; HTTP headers kept as secrets; a server that stays down is one
notice and a failing health, and it comes back by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import SetupError
from connectors.mcp import McpConfig, McpHub, McpLimits, record_name
from connectors.registry import check_all, connect_mcp, disconnect
from memory import MemoryService
from tests.support import mcp_servers


def _npm() -> None:
    if problem := mcp_servers.ensure_npm_servers():
        pytest.fail(problem)


async def test_a_bad_command_fails_before_anything_is_saved(memory: MemoryService, workspace: str) -> None:
    config = McpConfig(name="broken", command="/nonexistent/mcp-server --flag")
    with pytest.raises(SetupError, match="'broken' did not start and list its tools: the command was not found"):
        await connect_mcp(memory, workspace, config, seconds=10)
    assert await memory.connectors.get(workspace, "mcp:broken") is None


async def test_a_command_that_is_no_mcp_server_fails_before_saving(memory: MemoryService, workspace: str) -> None:
    with pytest.raises(SetupError, match="did not start and list its tools"):
        await connect_mcp(memory, workspace, McpConfig(name="echo", command="echo hello"), seconds=5)
    assert await memory.connectors.all(workspace) == []


@pytest.mark.parametrize(("server", "tool"), [("memory", "create_entities"), ("everything", "echo")])
async def test_the_npm_reference_servers_connect_list_their_tools_check_and_go(
    memory: MemoryService, workspace: str, server: str, tool: str, tmp_path: object
) -> None:
    _npm()
    config = McpConfig(name=server, command=mcp_servers.npm_command(server))
    health = await connect_mcp(memory, workspace, config)
    assert health.ok and tool in health.detail
    (record,) = await memory.connectors.all(workspace)
    assert record.name == f"mcp:{server}" and tool in (record.health_detail or "")
    ((name, checked),) = await check_all(memory, workspace)
    assert name == f"mcp:{server}" and checked.ok
    assert await disconnect(memory, workspace, f"mcp:{server}")
    assert await memory.connectors.all(workspace) == []


@pytest.fixture
def http_server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MCP_TEST_HTTP_PORT": str(port), "MCP_TEST_NOTES": "/dev/null"}
    proc = subprocess.Popen(
        [sys.executable, str(mcp_servers.THIS_FILE)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            import time

            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


async def test_an_http_server_connects_with_its_headers_kept_sealed(
    memory: MemoryService, workspace: str, http_server: str
) -> None:
    token = "Bearer sk-test-4f9c2e7d1a"
    config = McpConfig(name="remote", url=http_server, headers={"Authorization": token})
    health = await connect_mcp(memory, workspace, config)
    assert health.ok and "echo" in health.detail
    with memory.db.connection() as conn:
        (raw,) = conn.execute(
            "SELECT config::text FROM connector_configs WHERE workspace = %s AND name = %s",
            (workspace, record_name("remote")),
        ).fetchone()
    assert "sk-test-4f9c2e7d1a" not in raw and "Authorization" not in raw
    record = await memory.connectors.get(workspace, "mcp:remote")
    assert record is not None and McpConfig.from_stored(record.config).headers == {"Authorization": token}


async def test_a_server_that_stays_down_is_one_notice_and_failing_health(memory: MemoryService, workspace: str) -> None:
    config = McpConfig(name="flaky", command="/nonexistent/mcp-flaky")
    await memory.connectors.save(workspace, "mcp:flaky", config.stored(), health_detail="ok", secret_fields={"headers"})
    hub = McpHub(McpLimits(start_seconds=5, backoff=(0.05,), down_after=3), memory, workspace, "tester", "UTC")
    await hub.start_saved()
    for _ in range(100):
        if hub.sessions["flaky"].restarts >= 8:
            break
        await asyncio.sleep(0.05)
    await hub.stop()
    record = await memory.connectors.get(workspace, "mcp:flaky")
    assert record is not None and record.healthy is False and "not found" in (record.health_detail or "")
    with memory.db.connection() as conn:
        notices = conn.execute(
            "SELECT body FROM schedules WHERE workspace = %s AND kind = 'notice'", (workspace,)
        ).fetchall()
    assert len(notices) == 1 and "MCP server flaky stopped working" in notices[0][0]
    assert "mcp-server-down.md" in notices[0][0]


async def test_the_command_line_connects_lists_checks_and_removes_a_server(run: Any) -> None:
    command = f"env MCP_TEST_NOTES=/dev/null {mcp_servers.python_command()}"
    code, out, err = await asyncio.to_thread(run, "connect", "mcp", "tools", "--command", command)
    assert code == 0, err
    assert "MCP server tools connected: 5 tools: echo, slow, crash, lookup, note" in out
    code, out, _ = await asyncio.to_thread(run, "connectors", "--check")
    assert code == 0 and "mcp:tools: ok — 5 tools: echo" in out
    code, out, _ = await asyncio.to_thread(run, "disconnect", "mcp:tools")
    assert code == 0 and "mcp:tools removed." in out
    code, out, _ = await asyncio.to_thread(run, "connectors")
    assert "No connectors yet" in out


async def test_the_command_line_refuses_a_bad_server_before_saving(run: Any) -> None:
    code, _, err = await asyncio.to_thread(run, "connect", "mcp", "nope", "--command", "/nonexistent/server")
    assert code == 2 and "did not start and list its tools" in err and "Nothing was saved" in err
    code, _, err = await asyncio.to_thread(run, "connect", "mcp", "both", "--command", "x", "--url", "http://h/mcp")
    assert code == 2 and "either --command" in err
    code, _, err = await asyncio.to_thread(run, "connect", "mcp", "hdr", "--command", "x", "--header", "A=b")
    assert code == 2 and "--header goes with --url" in err


async def test_a_server_killed_between_calls_is_noticed_and_restarted(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    command = f"env MCP_TEST_PIDFILE={pidfile} MCP_TEST_NOTES=/dev/null {mcp_servers.python_command()}"
    hub = McpHub(McpLimits(start_seconds=20, backoff=(0.1,), health_seconds=0.2), memory, workspace, "tester", "UTC")
    await hub.start([McpConfig(name="pinged", command=command)])
    try:
        first = int(pidfile.read_text())
        os.kill(first, signal.SIGKILL)
        session = hub.sessions["pinged"]
        for _ in range(200):
            if session.restarts and session.up and pidfile.read_text() and int(pidfile.read_text()) != first:
                break
            await asyncio.sleep(0.05)
        assert session.restarts >= 1 and session.up
        assert (await hub.call("pinged", "echo", {"text": "back"})).text == "back"
    finally:
        await hub.stop()
