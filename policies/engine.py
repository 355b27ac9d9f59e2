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


class Policy(BaseModel):
    name: str
    version: int = 1
    currency: str = "EUR"
    quiet_hours: QuietHours | None = None
    actions: dict[str, ActionRule]
    default_level: Level = "approve"
    tone: str = ""

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
}


def decide(action: Action, context: PolicyContext) -> Decision:
    """How far ``action`` may go under ``context.policy``; always with the reason and the risks."""
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
