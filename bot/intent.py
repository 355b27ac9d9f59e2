"""What adapters hand to the dispatcher (``Intent``) and what they render (``Reply``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

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
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # short restart-safe token the dispatcher understands


@dataclass(frozen=True)
class Reply:
    """Text in a small Markdown subset, with optional buttons and a PNG image."""

    text: str
    buttons: tuple[Button, ...] = ()
    image_png: bytes | None = None
    ok: bool = True  # False when the request failed (a system problem, not a business answer)
    duplicate: bool = False  # the intent was handled before; channels must not send this again

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "ok": self.ok, "buttons": [[b.label, b.action] for b in self.buttons]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        buttons = tuple(Button(label, action) for label, action in data.get("buttons", []))
        return cls(text=str(data.get("text", "")), buttons=buttons, ok=bool(data.get("ok", True)))
