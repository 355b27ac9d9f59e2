"""``soloos mcp`` over stdio, as a desktop assistant runs it: a real MCP client (the ``mcp`` SDK) starts
the real command on the session's database, the one ``soloos chat`` uses.

What a user would notice: the client sees SoloOS's tools and nothing that deletes or sends; it recalls
what the operator told SoloOS, and outside data comes marked unconfirmed; a write it asks for waits
in /approvals instead of happening, and approving it in chat does it once; a huge argument gets a
clear error; stdout carries nothing but the protocol, and closing stdin ends the server cleanly.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp_types import CallToolResult, Implementation, TextContent

from bot.app import App
from bot.settings import Settings
from tests.support.chat import FakeChat
from tests.support.processes import SOLOOS, env_for

pytestmark = pytest.mark.real_clock  # the server process shares the session database, not a moved clock

CLIENT = "desk-assistant"
OUTSIDE = "email:<q3@acme.test> from billing@acme.test"


def _env(settings: Settings, workspace: str) -> dict[str, str]:
    return env_for(settings.home, SOLOOS_WORKSPACE=workspace, SOLOOS_OPERATOR="tester", SOLOOS_TIMEZONE="UTC")


@contextlib.asynccontextmanager
async def connected(settings: Settings, workspace: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=SOLOOS, args=["mcp"], env=_env(settings, workspace))
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, client_info=Implementation(name=CLIENT, version="1.0")) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    return "\n".join(part.text for part in result.content if isinstance(part, TextContent))


async def test_a_client_reads_memory_and_its_writes_wait_for_the_operator(
    app: App, settings: Settings, workspace: str
) -> None:
    memory = app.memory
    await memory.remember("Acme pays invoices net 30", layer="project", workspace=workspace)
    await memory.remember(
        "Acme's invoices now go to a new bank account", layer="project", workspace=workspace, origin=OUTSIDE
    )

    async with connected(settings, workspace) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {
            "recall",
            "list_tasks",
            "find_contacts",
            "list_invoices",
            "briefing",
            "remember",
            "add_task",
            "draft_email",
        }
        assert all(tool.description and tool.input_schema.get("type") == "object" for tool in tools.values())
        assert not [name for name in tools if re.search(r"delete|send|forget|pay", name)]
        assert tools["recall"].annotations and tools["recall"].annotations.read_only_hint
        assert "approves" in (tools["add_task"].description or "")

        recalled = text_of(await client.call_tool("recall", {"query": "Acme invoices", "k": 5}))
        lines = recalled.splitlines()
        ours = next(line for line in lines if "net 30" in line)
        theirs = next(line for line in lines if "new bank account" in line)
        assert "stated by the operator" in ours and "UNCONFIRMED" not in ours
        assert "UNCONFIRMED outside data" in theirs and "billing@acme.test" in theirs

        due = f"{memory.clock.today('UTC') + timedelta(days=30):%Y-%m-%d}"
        task = await client.call_tool("add_task", {"title": "Send Acme the Q3 report", "due": due})
        fact = await client.call_tool("remember", {"fact": "Acme's new contact is Dana Reyes"})
        for answer in (task, fact):
            assert not answer.is_error, text_of(answer)
            assert re.match(r"Waiting for the operator's approval \(#\d+\)", text_of(answer)), text_of(answer)
        assert "code" not in text_of(task).lower()  # an approval code never reaches a model

        # nothing happened yet: no task, no memory
        assert text_of(await client.call_tool("list_tasks", {})) == "No open tasks."
        assert "Dana Reyes" not in text_of(await client.call_tool("recall", {"query": "Acme contact Dana"}))

        chat = FakeChat(app, workspace)
        waiting = await chat.say("/approvals")
        assert "2 waiting for your approval" in waiting
        assert f"add task (mcp client: {CLIENT}): Send Acme the Q3 report" in waiting
        assert f"remember (mcp client: {CLIENT}): Acme's new contact is Dana Reyes" in waiting
        assert "MCP client" in waiting  # why I'm asking: the request came from an MCP client

        codes = re.findall(r"Code (\S+), expires", waiting)
        assert len(codes) == 2
        for code in codes:
            assert (await chat.press(f"approve {code}")).startswith("Approved and done")
        for code in codes:  # a second press does nothing
            assert (await chat.press(f"approve {code}")).startswith("Already decided")

        tasks = text_of(await client.call_tool("list_tasks", {}))
        assert tasks.count("Send Acme the Q3 report") == 1 and f"due {due}" in tasks
        remembered = text_of(await client.call_tool("recall", {"query": "Acme contact Dana Reyes"}))
        dana = next(line for line in remembered.splitlines() if "Dana Reyes" in line)
        assert f"confirmed by the operator, from mcp client: {CLIENT}" in dana

    tasks_now = await memory.records.list_tasks(workspace=workspace)
    assert [t.title for t in tasks_now] == ["Send Acme the Q3 report"]
    why = await FakeChat(app, workspace).say(f"/why {codes[0]}")
    assert "action.pending" in why and "action.executed" in why and "MCP client" in why


async def test_huge_and_wrong_arguments_get_a_clear_error(app: App, settings: Settings, workspace: str) -> None:
    async with connected(settings, workspace) as client:
        huge = await client.call_tool("remember", {"fact": "x" * 3_000_000})
        assert huge.is_error and "3,000,000 characters; at most 2,000" in text_of(huge)
        query = await client.call_tool("recall", {"query": "y" * 100_000})
        assert query.is_error and "at most 500" in text_of(query)
        past = await client.call_tool("add_task", {"title": "file taxes", "due": "2001-01-01"})
        assert past.is_error and "in the past" in text_of(past)
        address = await client.call_tool("draft_email", {"to": "Acme", "subject": "hi", "body": "hello"})
        assert address.is_error and "not an e-mail address" in text_of(address)
        # the server still answers after all that
        assert text_of(await client.call_tool("list_tasks", {})) == "No open tasks."
    assert await app.gate.pending(workspace) == []


def _frames(*messages: dict[str, object]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_stdout_is_only_protocol_and_closing_stdin_ends_the_server(tmp_path: Path, settings: Settings) -> None:
    """A fresh home: the embedded database is created (initdb) while the client waits; nothing it or
    SoloOS prints reaches stdout, and the process ends by itself when the client closes stdin."""
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [SOLOOS, "mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env_for(tmp_path),
        )
        assert proc.stdin and proc.stdout
        proc.stdin.write(_frames(INITIALIZE, INITIALIZED, listing))
        proc.stdin.flush()
        replies = []
        while len(replies) < 2:
            line = proc.stdout.readline()
            assert line, errors.read_text()
            replies.append(json.loads(line))  # every line is a JSON-RPC message
        proc.stdin.close()  # the client goes away: the server ends by itself
        rest = proc.stdout.read()
        assert proc.wait(timeout=120) == 0, errors.read_text()
    assert rest == ""
    assert [r.get("id") for r in replies] == [1, 2]
    assert replies[0]["result"]["serverInfo"]["name"] == "soloos"
    assert len(replies[1]["result"]["tools"]) == 8
    assert "Traceback" not in errors.read_text()
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "the last process stops the embedded server"


def test_a_client_gone_mid_call_leaves_nothing_half_done(settings: Settings, workspace: str, app: App) -> None:
    """The client asks for a write and closes the pipe without waiting: the server exits cleanly and
    the request is either a whole pending approval (with its audit entry) or nothing; never done."""
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": "half-done check"}},
    }
    proc = subprocess.Popen(
        [SOLOOS, "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(settings, workspace),
    )
    _, errors = proc.communicate(_frames(INITIALIZE, INITIALIZED, call), timeout=180)  # then stdin closes
    assert proc.returncode == 0, errors
    assert "Traceback" not in errors

    with app.memory.db.connection() as conn:
        rows = conn.execute(
            """SELECT a.status, (SELECT count(*) FROM audit_events e WHERE e.approval_id = a.id
                                  AND e.name = 'action.pending')
               FROM approvals a WHERE a.workspace = %s""",
            (workspace,),
        ).fetchall()
        executed = conn.execute(
            "SELECT count(*) FROM audit_events WHERE workspace = %s AND name = 'action.executed'", (workspace,)
        ).fetchone()
    assert all(status == "pending" and audited == 1 for status, audited in rows), rows
    assert len(rows) <= 1
    assert executed == (0,)
