"""What adapters hand to the dispatcher (``Intent``) and what they render (``Reply``, defined with the
agents that give it and re-exported here for the adapters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agents.reply import Button, Reply
from memory import Clock, InboxRef

Channel = Literal["console", "telegram", "slack"]


@dataclass(frozen=True)
class Intent:
    """One operator message, already translated out of its channel's vocabulary."""

    workspace: str
    operator: str  # canonical operator id
    channel: Channel
    channel_user: str  # the identity on that channel (Telegram user id, Slack user id, login name)
    conversation: str  # chat / channel / console session the reply goes back to
    text: str
    idempotency_key: str  # Telegram update_id, Slack event_id, console session + line number
    command: str | None = None
    args: tuple[str, ...] = ()
    received_at: datetime = field(default_factory=Clock().now)
    # The text is a button's action (a press, or a console's numbered choice), not typed: approving
    # by a typed code takes a second step (agents.commands.approvals), a press does not.
    pressed: bool = False
    # Chat channels: the reply is queued in the channel outbox in the transaction that records the
    # handled message, with this channel's own data (e.g. the pressed message to edit), and the
    # channel's sender delivers it. None (the console): the adapter shows the reply itself.
    delivery: dict[str, Any] | None = None
    inbox: InboxRef | None = None  # the stored update it came from, closed in that same transaction


__all__ = ["Button", "Channel", "Intent", "Reply"]
