"""What a turn is doing while the operator waits, told without knowing the channel.

The agents layer calls ``report("Research is looking into it…")`` (or ``started("research")``) as
work begins; the bot layer opens ``listening(callback)`` around a turn and shows each line its own
way (a spinner line on the console, one interim message in Telegram or Slack). With nobody
listening a report does nothing, and a listener that fails never fails the turn.

The listener lives in a ``contextvars.ContextVar``: tasks a turn starts (pydantic-ai runs tool calls
in tasks) copy the context, so their reports reach the same listener; two turns running at once in
one process (two Telegram chats) each reach their own.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import Literal

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
"""Gets each progress line; called in the turn's own task, so it must not block (schedule work)."""

Specialist = Literal["research", "drafting", "revising", "finance", "scheduling", "planning"]

LINES: dict[Specialist, str] = {
    "research": "Research is looking into it…",
    "drafting": "Drafting is writing…",
    "revising": "Drafting is revising the draft…",
    "finance": "Finance is checking the figures…",
    "scheduling": "Scheduling is looking at your time…",
    "planning": "Planning the projects and steps…",
}

_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar("soloos_progress", default=None)


def report(line: str) -> None:
    """Tell whoever waits for this turn what it is doing now; nothing when nobody listens."""
    listener = _listener.get()
    if listener is None:
        return
    try:
        listener(line)
    except Exception:  # feedback is a courtesy: a failing display must not fail the work
        log.warning("a progress listener failed on %r", line, exc_info=True)


def started(specialist: Specialist) -> None:
    """A specialist starts working on this turn (the line the operator sees for it)."""
    report(LINES[specialist])


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send this turn's progress lines (in this context and the tasks it starts) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


__all__ = ["LINES", "Listener", "Specialist", "listening", "report", "started"]
