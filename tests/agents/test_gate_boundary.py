"""The gate is the only way to an effect.

Every agent the ``agents`` package defines is found by introspection (module-level ``Agent``
objects), and every tool it exposes is walked through its toolsets. A tool that acts (builds an
``Action``, or reaches for the gate's acting methods or the executors) must sit inside a
``GatedToolset``, and every tool inside one must return an ``Action`` for the wrapper to submit.
The executors refuse to run unless the gate called them, and only the gate package names them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.toolsets import AbstractToolset, CombinedToolset, FunctionToolset, WrapperToolset

import agents
from agents.gate import GatedToolset
from agents.gate.executors import EXECUTORS, GateBypassed
from policies import Action

ROOT = Path(__file__).resolve().parents[2]
# Methods that act (or park an action) when called on the gate, and names that reach the executors.
ACTING = {"submit", "execute", "request_approval", "refuse", "park_deferred", "decide_approval", "resume_approved"}
EXECUTOR_NAMES = {"EXECUTORS", "through_gate"}
# A tool's own call that writes a record or reaches a connector directly: memory.<…>.<verb…>(…),
# <connector>.write / flush / deliver(…).
WRITES = re.compile(
    r"\bmemory\b[\w.]*\.(?:add|remember|forget|delete|remove|upsert|update|record|set|cancel|complete|"
    r"link|finish|claim|import)\w*$|\bconnector\w*\.(?:write|flush|deliver)\w*$"
)
# Modules outside the gate package that still run the gate's steps themselves. Each is switched to
# ``Gate.submit`` when the command-registry work lands; remove it here then (the test insists).
NOT_YET_SWITCHED: set[str] = set()


@dataclass(frozen=True)
class ExposedTool:
    agent: str
    name: str
    function: Callable[..., Any]
    gated: bool


def all_agents() -> dict[str, Agent[Any, Any]]:
    """Every module-level ``Agent`` in the ``agents`` package (and what it imports), by name."""
    found: dict[str, Agent[Any, Any]] = {}
    for info in pkgutil.walk_packages(agents.__path__, "agents."):
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            if isinstance(value, Agent):
                assert found.setdefault(value.name or attribute, value) is value, f"two agents named {value.name}"
    return found


def _walk(toolset: AbstractToolset[Any], agent: str, gated: bool) -> Iterator[ExposedTool]:
    if isinstance(toolset, FunctionToolset):
        for name, tool in toolset.tools.items():
            yield ExposedTool(agent, name, tool.function, gated)
    elif isinstance(toolset, WrapperToolset):
        yield from _walk(toolset.wrapped, agent, gated or isinstance(toolset, GatedToolset))
    elif isinstance(toolset, CombinedToolset):
        for inner in toolset.toolsets:
            yield from _walk(inner, agent, gated)
    else:  # a toolset kind this test cannot see into is a tool it cannot vouch for
        raise AssertionError(f"{agent}: cannot enumerate the tools of {type(toolset).__name__}")


def exposed_tools() -> list[ExposedTool]:
    return [tool for name, agent in all_agents().items() for ts in agent.toolsets for tool in _walk(ts, name, False)]


def _returns_action(function: Callable[..., Any]) -> bool:
    hints = typing.get_type_hints(function)
    returned = hints.get("return")
    return returned is Action or Action in typing.get_args(returned)


def _acts(function: Callable[..., Any]) -> list[str]:
    """What in the tool's own code builds an action or reaches the gate's acting methods."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    reasons = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = node.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            if name in ("Action", "send_action"):
                reasons.append(f"builds an Action ({name})")
            if isinstance(callee, ast.Attribute) and name in ACTING and "gate" in ast.unparse(callee.value):
                reasons.append(f"calls {ast.unparse(callee)}")
            if isinstance(callee, ast.Attribute) and WRITES.search(ast.unparse(callee)):
                reasons.append(f"writes with {ast.unparse(callee)}")
        if isinstance(node, ast.Name) and node.id in EXECUTOR_NAMES:
            reasons.append(f"names {node.id}")
    return reasons


def test_the_agents_and_their_tools_are_found() -> None:
    """The enumeration sees what the operator's model can call (so the checks below are not vacuous)."""
    tools = exposed_tools()
    assert {"coordinator", "research", "drafting", "finance", "scheduling", "strategist", "tactician"} <= set(
        all_agents()
    )
    assert any(t.gated for t in tools) and any(not t.gated for t in tools)


def test_every_tool_that_acts_is_behind_the_gated_wrapper() -> None:
    ungated = {
        f"{t.agent}.{t.name}: {', '.join(reasons)}"
        for t in exposed_tools()
        if not t.gated
        and (reasons := _acts(t.function) + (["returns an Action"] if _returns_action(t.function) else []))
    }
    assert not ungated, f"side-effect tools outside GatedToolset: {sorted(ungated)}"


def test_every_gated_tool_only_builds_an_action() -> None:
    for tool in exposed_tools():
        if tool.gated:
            assert _returns_action(tool.function), f"{tool.agent}.{tool.name} must return an Action to be submitted"
            called = [r for r in _acts(tool.function) if r.startswith(("calls", "names", "writes"))]
            assert not called, f"{tool.agent}.{tool.name} acts itself: {called}; it must only build the Action"


@pytest.mark.parametrize("action_type", sorted(EXECUTORS))
def test_an_executor_called_outside_the_gate_refuses(action_type: str) -> None:
    """Nothing is touched: the refusal comes before the connection is used (here: there is none)."""
    with pytest.raises(GateBypassed, match="policy gate"):
        EXECUTORS[action_type](None, "w", Action(action_type, {}), "key", datetime.now(UTC))  # type: ignore[arg-type]


def _python_files() -> Iterator[Path]:
    for folder in ("agents", "bot", "connectors", "memory", "policies", "bench"):
        yield from (ROOT / folder).rglob("*.py")


def test_only_the_gate_names_the_executors_or_runs_its_steps() -> None:
    # The executors, and the statements they run (the side-effect ledger's claim/settle excepted: the
    # e-mail connector settles its own sends with it).
    executors = re.compile(
        r"\b(?:EXECUTORS|through_gate)\b|agents\.gate\.executors import|\bmemory\.effects\b"
        r"|from memory import [^\n]*\beffects\b|\beffects\.(?:queue_email|schedule_payment|reverse)\b"
    )
    steps = re.compile(r"\bgate\.(?:execute|request_approval|refuse|judge)\b")
    naming, stepping = set(), set()
    for path in _python_files():
        where = path.relative_to(ROOT).as_posix()
        if where.startswith("agents/gate/") or where in ("memory/__init__.py", "memory/effects.py"):
            continue
        text = path.read_text()
        if executors.search(text):
            naming.add(where)
        if steps.search(text):
            stepping.add(where)
    assert not naming, f"only the gate may reach the executors: {sorted(naming)}"
    assert stepping == NOT_YET_SWITCHED, (
        f"run the gate's steps through Gate.submit instead: {sorted(stepping - NOT_YET_SWITCHED)}; "
        f"switched already (drop from NOT_YET_SWITCHED): {sorted(NOT_YET_SWITCHED - stepping)}"
    )
