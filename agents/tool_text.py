"""Text shaped like a tool call is never an answer.

Small local models whose chat template loses the tool-call tags write the call as plain text:
``{"name": "send_email", "arguments": {…}}``, the same inside ``<tool_call>…</tool_call>`` or a
```json fence, ``[TOOL_CALLS][…]``, or ``{"function": {"name": …}}``. ``tool_call_in`` finds such a
call anywhere in a reply. The agents ask the model once to make the call properly, then refuse in
their own words (``refusal``); the text is never shown, never executed, and a stored reply that
looks like one is kept out of later turns' context.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic_ai.exceptions import UnexpectedModelBehavior

_START = re.compile(r"[\[{]\s*(?=[\[{]?\s*\"(?:name|function|tool|tool_name|recipient_name)\")")
_NAME = re.compile(r"[A-Za-z_][\w.\-]{0,63}")
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input", "tool_input")
_decoder = json.JSONDecoder()


def _call_name(value: Any) -> str | None:
    """The tool name when ``value`` is shaped like a call (a name and its arguments), else None."""
    if isinstance(value, list):
        return next((name for item in value if (name := _call_name(item))), None)
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        return _call_name(value["function"])
    name = value.get("name") or value.get("tool") or value.get("tool_name") or value.get("recipient_name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return None
    if not any(key in value for key in _ARGUMENT_KEYS):
        return None
    return name.rsplit(".", 1)[-1]  # "functions.send_email" → "send_email"


def tool_call_in(text: str) -> str | None:
    """The name of a tool call written as text anywhere in ``text``, or None."""
    if '"' not in text:
        return None
    for match in _START.finditer(text):
        try:
            value, _ = _decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if name := _call_name(value):
            return name
    return None


def refusal(name: str) -> str:
    """What the operator reads instead of a tool call the model wrote as text."""
    return (
        f"The model wrote a tool call as text ({name}) instead of making it, so nothing was done. "
        "Ask again, perhaps more simply; if it keeps happening, the model or its server's chat template "
        "does not support tool calls (with llama.cpp, start the server with --jinja)."
    )


class ToolCallAsText(UnexpectedModelBehavior):
    """A model wrote a tool call as text again after being asked to make it: nothing was done.
    ``str()`` is the refusal the operator reads."""

    def __init__(self, name: str) -> None:
        super().__init__(refusal(name))
        self.name = name

    def __str__(self) -> str:
        return self.message


RETRY = (
    "You wrote a tool call as text. Text is shown to the operator and never runs: call the tool through "
    "the tool-calling interface, or answer in plain words."
)

__all__ = ["RETRY", "ToolCallAsText", "refusal", "tool_call_in"]
