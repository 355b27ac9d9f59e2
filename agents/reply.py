"""What every answer is, whoever gives it: ``Reply`` (text, buttons, image) and its ``Button``s.

Agents and commands return it; the dispatcher stores it; adapters render it. How a button press's
answer is shown travels with the reply (``on_press``), so adapters never read command text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

OnPress = Literal["replace", "post"]


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
    duplicate: bool = False  # the intent was handled before: what it owes is queued already (or being made)
    # When this answers a button press: "replace" shows it in place of the pressed message's buttons
    # (Approve, Deny: the outcome and who decided); "post" sends it as a new message (Details).
    on_press: OnPress = "replace"
    # The turn that wrote it read outside content (an e-mail, a web page): its links that could carry
    # data are shown defanged (agents.links), whatever the channel.
    tainted: bool = False
    # The dispatcher queued it in the channel outbox (bot.reply_sender delivers it); a chat adapter
    # sends a reply itself only when this is False (the database could not take it).
    queued: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "ok": self.ok,
            "buttons": [[b.label, b.action] for b in self.buttons],
        }
        if self.on_press != "replace":
            data["on_press"] = self.on_press
        if self.tainted:
            data["tainted"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        buttons = tuple(Button(label, action) for label, action in data.get("buttons", []))
        on_press: OnPress = "post" if data.get("on_press") == "post" else "replace"
        return cls(
            text=str(data.get("text", "")),
            buttons=buttons,
            ok=bool(data.get("ok", True)),
            on_press=on_press,
            tainted=bool(data.get("tainted", False)),
        )


__all__ = ["Button", "OnPress", "Reply"]
