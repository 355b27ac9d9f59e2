"""What a command is, and what every command handler gets: the types the feature modules share."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from agents.gate import Gate
from agents.models import Budget
from agents.planner import Planner
from agents.reply import Button, OnPress, Reply
from agents.status import SloTargets
from memory import MemoryService


@dataclass(frozen=True)
class LocalContext:
    """Who asks, where, and with what: everything a command handler may use."""

    memory: MemoryService  # also the one clock: ``memory.clock``
    gate: Gate
    workspace: str
    operator: str
    intent_key: str
    timezone: str
    source: str
    model_configured: bool
    budget: Budget
    conversation: str = ""  # where replies (and reminders set here) go
    signature: str = ""  # how drafts are signed
    slo: SloTargets = field(default_factory=SloTargets)
    planner: Planner | None = None  # turns objectives into plans; None or unavailable without a model
    pressed: bool = False  # the text came from a button (or a numbered choice), not typed
    approve_own_requests: bool = True  # False: whoever asked for an action may not approve it


@dataclass(frozen=True)
class Routed:
    kind: str
    text: str = ""  # the payload (what to remember, the query, the task title…)
    args: dict[str, str] = field(default_factory=dict)
    command: Command | None = field(default=None, compare=False, repr=False)  # None: no command matched


Handler = Callable[[Routed, LocalContext], Awaitable[Reply]]


Confidence = Literal["confident", "question", "fallback"]
"""How sure a phrasing is that the local tier should answer (``agents.commands._registry.LOCAL``):

- ``confident``: an explicit command ("/tasks", "remember that …", "approve ab12cd"), always local;
- ``question``: local when the message asks (or only names the thing: "overdue invoices"); with a
  model, requests go to it, and statements go to it or, without one, get the needs-model answer;
- ``fallback``: an open-ended match ("find …", "what is …"), local only when no model is configured.
"""


def phrase(order: int, pattern: str, confidence: Confidence = "confident") -> Rule:
    """One way of saying a command; rules are tried in ``order`` over all commands, first match wins."""
    return Rule(order, re.compile(pattern, re.IGNORECASE | re.DOTALL), confidence)


@dataclass(frozen=True)
class Rule:
    order: int
    pattern: re.Pattern[str]
    confidence: Confidence = "confident"


@dataclass(frozen=True)
class Command:
    """One command: its phrasings, its handler, and where it is listed.

    ``name`` is its slash name (``/tasks``). ``help`` is its line in the help text (``help_order``
    places it). ``menu`` is its description in Telegram's command menu (``menu_order`` places it);
    ``slack`` lists it among ``/soloos`` subcommands. ``example`` is how a listed entry is typed.
    """

    kind: str
    handler: Handler
    rules: tuple[Rule, ...]
    name: str = ""
    help: str = ""
    help_order: int = 0
    menu: str = ""
    menu_order: int = 0
    slack: bool = False
    example: str = ""
    needs_text: bool = False  # a phrasing without a payload does not count
    keep_sentence_end: bool = False  # "remember …." keeps the fact's final punctuation
    on_press: OnPress = "replace"  # how the answer to a button carrying this command is shown

    @property
    def typed(self) -> str:
        """How the listed entry is typed, arguments and all."""
        return self.example or f"/{self.name}"


def approval_buttons(token: str) -> tuple[Button, ...]:
    return (
        Button("Approve", f"/approve {token}"),
        Button("Deny", f"/deny {token}"),
        Button("Details", f"/details {token}"),
    )


def when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return (
        local.strftime("%a %d %b %Y %H:%M") if (local.hour, local.minute) != (0, 0) else local.strftime("%a %d %b %Y")
    )


def day(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d %b %Y")


async def audited(ctx: LocalContext, action_type: str, outcome: str, undo: dict[str, object] | None) -> None:
    """Record what the operator did, with how to undo it."""
    await ctx.gate.record_operator_action(
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        action_type=action_type,
        outcome=outcome,
        undo=undo,
    )


__all__ = [
    "Command",
    "Confidence",
    "Handler",
    "LocalContext",
    "Routed",
    "Rule",
    "approval_buttons",
    "audited",
    "day",
    "phrase",
    "when",
]
