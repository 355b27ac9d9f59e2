"""What adapters hand to the dispatcher (``Intent``) and what they render (``Reply``, defined with the
agents that give it and re-exported here for the adapters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agents.reply import Button, Reply
from memory import Clock

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


__all__ = ["Button", "Channel", "Intent", "Reply"]
