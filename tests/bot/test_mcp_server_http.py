"""``soloos mcp --http``: streamable HTTP on 127.0.0.1 with a bearer token, as a real process.

What a user would notice: a request without the token, or with another, is refused (401) before it
reaches anything; the right token gets the same tools as stdio; the token is shown by
``soloos mcp token`` and a renewed one locks the old out; the server refuses to listen on any
address but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import Implementation, TextContent

from bot.app import App
from bot.settings import Settings
from tests.support.chat import FakeChat
from tests.support.processes import SOLOOS, env_for

pytestmark = pytest.mark.real_clock  # the server process shares the session database, not a moved clock

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(settings: Settings, workspace: str) -> dict[str, str]:
    return env_for(settings.home, SOLOOS_WORKSPACE=workspace, SOLOOS_OPERATOR="tester")


def _token(settings: Settings, workspace: str, *extra: str) -> str:
    done = subprocess.run(
        [SOLOOS, "mcp", "token", *extra], capture_output=True, text=True, env=_env(settings, workspace), timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextlib.contextmanager
def http_server(settings: Settings, workspace: str) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [SOLOOS, "mcp", "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(settings, workspace),
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "soloos mcp --http did not start listening"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, errors = proc.communicate(timeout=60)
        assert proc.returncode == 0, errors
        assert "Traceback" not in errors, errors


async def test_the_token_is_needed_and_the_right_one_works(app: App, settings: Settings, workspace: str) -> None:
    await app.memory.remember("Globex wants weekly status calls", layer="project", workspace=workspace)
    token = _token(settings, workspace)
    assert len(token) >= 40 and _token(settings, workspace) == token  # made once, shown again

    with http_server(settings, workspace) as url:
        async with httpx.AsyncClient(timeout=30) as raw:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token}x"}):
                refused = await raw.post(url, json=INITIALIZE, headers={**ACCEPT, **headers})
                assert refused.status_code == 401, refused.text
                assert "soloos mcp token" in refused.text
            assert (await raw.get(url, headers={"Authorization": token})).status_code == 401  # no "Bearer"
            allowed = await raw.post(url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {token}"})
            assert allowed.status_code == 200, allowed.text

        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with (
            client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write, client_info=Implementation(name="editor", version="2")) as session,
        ):
            await session.initialize()
            names = {tool.name for tool in (await session.list_tools()).tools}
            assert {"recall", "briefing", "add_task"} <= names
            found = await session.call_tool("recall", {"query": "Globex calls"})
            text = "\n".join(p.text for p in found.content if isinstance(p, TextContent))
            assert "Globex wants weekly status calls" in text
            asked = await session.call_tool("add_task", {"title": "Book the Globex call"})
            assert not asked.is_error

    waiting = await FakeChat(app, workspace).say("/approvals")
    assert "add task (mcp client: editor): Book the Globex call" in waiting

    renewed = _token(settings, workspace, "--renew")
    assert renewed != token
    with http_server(settings, workspace) as url:
        async with httpx.AsyncClient(timeout=30) as raw:
            old = await raw.post(url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {token}"})
            assert old.status_code == 401
            new = await raw.post(url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {renewed}"})
            assert new.status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "localhost", "::"])
def test_it_refuses_to_listen_beyond_loopback(run, host: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("mcp", "--http", "--host", host)
    assert code == 2
    assert "127.0.0.1 only" in err and "SSH" in err
    assert out == ""
