"""How the policy judges an MCP tool call (pure): a level per server and per tool, default approve;
a server's hints count only where the policy trusts it. And what the operator is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents.gate.messages import describe_approval, mcp_arguments
from connectors.mcp import result_text
from policies import MCP_CALL, Action, Approval, Decision, Policy, PolicyContext, decide, load_policy

NOON = datetime(2027, 3, 3, 12, 0, tzinfo=UTC)


def _policy(mcp: dict[str, Any], quiet: bool = False) -> Policy:
    base = load_policy().model_dump()
    base["mcp"] = mcp
    base["quiet_hours"] = {"start": "00:00", "end": "23:59"} if quiet else None
    return Policy.model_validate(base)


def _call(tool: str, **hints: bool) -> Action:
    return Action(MCP_CALL, {"server": "crm", "tool": tool, "arguments": {}, "hints": hints}, f"call {tool}")


def _level(mcp: dict[str, Any], action: Action, mode: str = "deterministic", quiet: bool = False) -> Decision:
    return decide(action, PolicyContext(_policy(mcp, quiet), NOON, mode=mode))  # type: ignore[arg-type]


def test_the_default_template_has_no_mcp_server_and_every_call_waits() -> None:
    decision = decide(_call("list"), PolicyContext(load_policy(), NOON))
    assert decision.level == "approve" and "has no rule" in decision.reason and not decision.reversible


@pytest.mark.parametrize(
    ("rule", "action", "level"),
    [
        ({"tools": {"list": "allow"}}, _call("list"), "allow"),
        ({"tools": {"list": "allow"}}, _call("delete"), "approve"),
        ({"level": "notify"}, _call("delete"), "notify"),
        ({"level": "deny", "tools": {"list": "allow"}}, _call("delete"), "deny"),
        ({}, _call("note", read_only=True), "approve"),  # untrusted: the claim is ignored
        ({"trusted": True}, _call("note", read_only=True), "allow"),
        ({"trusted": True}, _call("note", read_only=True, destructive=True), "approve"),
        ({"trusted": True, "tools": {"note": "approve"}}, _call("note", read_only=True), "approve"),
        ({"trusted": True}, _call("write"), "approve"),
    ],
)
def test_levels_per_server_and_tool_and_hints_only_when_trusted(
    rule: dict[str, Any], action: Action, level: str
) -> None:
    assert _level({"crm": rule}, action).level == level


def test_an_untrusted_read_only_claim_is_named_and_not_believed() -> None:
    decision = _level({"crm": {}}, _call("note", read_only=True))
    assert "not trusted, so that is not taken on its word" in decision.reason


def test_exploratory_mode_and_quiet_hours() -> None:
    assert _level({"crm": {"level": "notify"}}, _call("x"), mode="exploratory").level == "deny"
    assert _level({"crm": {"level": "allow"}}, _call("x"), mode="exploratory").level == "allow"
    assert _level({"crm": {"level": "notify"}}, _call("x"), quiet=True).level == "approve"


def _approval(arguments: dict[str, Any]) -> Approval:
    action = Action(MCP_CALL, {"server": "files", "tool": "write_file", "arguments": arguments, "hints": {}}, "write")
    now = datetime(2027, 3, 3, tzinfo=UTC)
    return Approval(
        id="abc123", workspace="w", operator="o", action=action, reason="policy", risks=(), status="pending",
        requested_at=now, expires_at=now + timedelta(hours=1), decided_by=None, outcome=None, intent_key=None,
    )  # fmt: skip


def test_an_mcp_approval_shows_the_tool_its_server_and_every_argument() -> None:
    text = describe_approval(_approval({"path": "/tmp/a.txt", "content": "Hello"}))
    assert "Tool: write_file on MCP server files" in text
    assert '"path": "/tmp/a.txt"' in text and '"content": "Hello"' in text


def test_long_arguments_are_cut_only_with_a_count_of_what_is_left() -> None:
    text = describe_approval(_approval({"content": "x" * 5_000}))
    whole = mcp_arguments({"content": "x" * 5_000}, limit=10**6)
    assert f"({len(whole) - 3_000:,} more characters)" in text


def test_a_long_result_is_cut_with_a_note() -> None:
    from types import SimpleNamespace

    answer = SimpleNamespace(content=[SimpleNamespace(type="text", text="y" * 9_000)], structured_content=None)
    cut = result_text(answer, 8_000)
    assert cut.cut and cut.chars == 9_000 and cut.text.endswith("[… 1,000 more characters not shown]")
