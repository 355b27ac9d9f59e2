"""The policy engine: a pure ``decide(action, context) -> Decision``.

It depends only on the action, the policy template and facts from records (e.g. which
counterparties are known). It never sees the model's opinion, so nothing a model says — or an
email it read — can talk it into a lower level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator

Level = Literal["allow", "notify", "approve", "deny"]
_ORDER: dict[Level, int] = {"allow": 0, "notify": 1, "approve": 2, "deny": 3}


class PolicyError(ValueError):
    """A policy template is malformed."""


class Threshold(BaseModel):
    above: Decimal
    level: Level


class ActionRule(BaseModel):
    level: Level
    reversible: bool = False
    new_counterparty: Level | None = None
    thresholds: list[Threshold] = Field(default_factory=list)


class QuietHours(BaseModel):
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # spans midnight


class McpServerRule(BaseModel):
    """The operator's levels for one MCP server: ``level`` for its tools, ``tools`` per tool by name.
    ``trusted``: the server's own hints (read-only, destructive) may lower the level of a tool the
    operator did not name; for an untrusted server they are ignored (they are its own claims)."""

    level: Level = "approve"
    trusted: bool = False
    tools: dict[str, Level] = Field(default_factory=dict)


class Policy(BaseModel):
    name: str
    version: int = 1
    currency: str = "EUR"
    quiet_hours: QuietHours | None = None
    actions: dict[str, ActionRule]
    default_level: Level = "approve"
    tone: str = ""
    mcp: dict[str, McpServerRule] = Field(default_factory=dict)  # by server name (soloos connect mcp NAME)

    @field_validator("actions")
    @classmethod
    def _names(cls, value: dict[str, ActionRule]) -> dict[str, ActionRule]:
        for name in value:
            if "." not in name:
                raise ValueError(f"action {name!r} must look like 'area.verb', e.g. email.send")
        return value


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, or the built-in default template."""
    try:
        if path is None:
            text = resources.files("policies").joinpath("templates/default.yaml").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return Policy.model_validate(yaml.safe_load(text))
    except (OSError, yaml.YAMLError, ValueError) as err:
        raise PolicyError(f"policy {path or 'default'} is not valid: {err}") from err


@dataclass(frozen=True)
class Action:
    """A side effect someone wants: what, with which arguments, for how much, to whom."""

    type: str
    args: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    amount: Decimal | None = None
    counterparty: str | None = None


@dataclass(frozen=True)
class PolicyContext:
    policy: Policy
    now_local: datetime
    known_counterparties: frozenset[str] = frozenset()
    mode: Literal["exploratory", "deterministic", "creative"] = "deterministic"


@dataclass(frozen=True)
class Decision:
    level: Level
    reason: str
    risks: tuple[str, ...]
    reversible: bool

    @property
    def may_run_now(self) -> bool:
        return self.level in ("allow", "notify")


_RISKS: dict[str, tuple[str, ...]] = {
    "email": ("the message cannot be unsent once delivered", "wrong recipient or tone reflects on you"),
    "payment": ("money leaves your account and may not come back", "the payee or amount could be wrong"),
    "memory": ("a deleted memory cannot be restored",),
    "record": ("a deleted record cannot be restored",),
    "task": ("a deleted task cannot be restored",),
    "calendar": ("invitees are notified at once",),
    "invoice": ("the client receives it immediately",),
    "mcp": ("a tool of a server you connected: what it does is the server's, not SoloOS's, and cannot be undone",),
}

MCP_CALL = "mcp.call"


def _mcp_level(action: Action, policy: Policy) -> tuple[Level, str]:
    """The level of an MCP tool call: the operator's rule for the tool, else (on a trusted server) the
    server's read-only hint, else the server's level, else ``approve``."""
    server, tool = str(action.args.get("server", "")), str(action.args.get("tool", ""))
    rule = policy.mcp.get(server)
    if rule is None:
        return "approve", f"MCP server {server!r} has no rule in policy {policy.name!r}: every call waits for you"
    if tool in rule.tools:
        return rule.tools[tool], f"policy {policy.name!r} sets {server}/{tool} to {rule.tools[tool]}"
    hints = action.args.get("hints") or {}
    if rule.trusted and hints.get("read_only") is True and hints.get("destructive") is not True:
        return "allow", f"{server} is trusted in policy {policy.name!r} and says {tool} only reads"
    said = (
        f"; {server} says {tool} only reads, but it is not trusted, so that is not taken on its word"
        if (hints.get("read_only") is True and not rule.trusted)
        else ""
    )
    return rule.level, f"policy {policy.name!r} sets MCP server {server} to {rule.level}{said}"


def _decide_mcp(action: Action, context: PolicyContext) -> Decision:
    level, reason = _mcp_level(action, context.policy)
    reasons = [reason]
    quiet = context.policy.quiet_hours
    if context.mode == "exploratory" and level != "allow":
        level = "deny"
        reasons.append("exploratory mode gathers information and takes no actions")
    elif level == "notify" and quiet and quiet.contains(context.now_local.time()):
        level = "approve"
        reasons.append("it is quiet hours")
    return Decision(level, "; ".join(reasons), _RISKS["mcp"], False)


def decide(action: Action, context: PolicyContext) -> Decision:
    """How far ``action`` may go under ``context.policy``; always with the reason and the risks."""
    if action.type == MCP_CALL:
        return _decide_mcp(action, context)
    policy = context.policy
    rule = policy.actions.get(action.type)
    area = action.type.split(".", 1)[0]
    risks = list(_RISKS.get(area, ("an unlisted action: its effects are not known to the policy",)))
    if rule is None:
        return Decision(policy.default_level, f"{action.type} is not in policy {policy.name!r}", tuple(risks), False)

    level: Level = rule.level
    reasons = [f"policy {policy.name!r} sets {action.type} to {rule.level}"]

    if action.amount is not None:
        for threshold in sorted(rule.thresholds, key=lambda t: t.above):
            if action.amount > threshold.above and _ORDER[threshold.level] > _ORDER[level]:
                level = threshold.level
                reasons.append(f"{action.amount} {policy.currency} is above {threshold.above}")

    if action.counterparty is not None and rule.new_counterparty is not None:
        known = action.counterparty.strip().lower() in context.known_counterparties
        if not known and _ORDER[rule.new_counterparty] > _ORDER[level]:
            level = rule.new_counterparty
            reasons.append(f"{action.counterparty} is a new counterparty")
        if not known:
            risks.append(f"{action.counterparty} is not among your known contacts")

    reaches_people = action.counterparty is not None or not rule.reversible
    if context.mode == "exploratory" and action.type not in ("memory.write", "email.draft"):
        level = "deny"
        reasons.append("exploratory mode gathers information and takes no actions")
    elif (
        reaches_people
        and policy.quiet_hours
        and policy.quiet_hours.contains(context.now_local.time())
        and _ORDER[level] < _ORDER["approve"]
    ):
        level = "approve"
        reasons.append("it is quiet hours")

    return Decision(level, "; ".join(reasons), tuple(risks), rule.reversible)
