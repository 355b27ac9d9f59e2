"""The effects SoloOS carries out itself, until (and beside) the real email, calendar and bank
connectors. Each executor runs inside the gate's transaction (so the effect, its idempotency key and
its audit event commit together) and returns its outcome and undo handle. Only ``Gate`` calls them:
an executor called anywhere else raises ``GateBypassed``.

- ``email.send`` queues the message in the outbox (delivered by the email connector once it is
  configured), after a grace window in which ``/undo`` cancels it.
- ``email.draft`` stores a draft in the outbox.
- ``payment.create`` schedules a payment in the payments ledger.
- ``calendar.create`` records an event as 'pending' in ``events``; the calendar connector's ``flush``
  puts it on the CalDAV server (its UID derives from the idempotency key, see ``event_uid``).
- ``memory.delete``, ``memory.write`` (the operator's fact, told to the coordinator), ``task.create``
  change records.

An executor checks the arguments and words the outcome; the statements are ``memory.effects``.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from connectors import ConnectorError
from connectors.checks import (
    MAX_ADDRESS_CHARS,
    MAX_EVENT_AHEAD,
    MAX_EVENT_LENGTH,
    MAX_LOCATION_CHARS,
    MAX_MAIL_SUBJECT_CHARS,
    MAX_PAYEE_CHARS,
    MAX_TASK_TITLE_CHARS,
    MAX_TIME_CHARS,
    MESSAGE_ID,
    text_arg,
)
from connectors.effects import Outcome, event_uid
from memory import MAX_TITLE_CHARS, effects
from policies.engine import Action

EVENT_SOURCE = "soloos"  # events the gate recorded and the calendar connector has not pushed yet
EVENT_PAST_GRACE = timedelta(days=1)  # "this morning's call" may still be recorded
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")

Executor = Callable[[psycopg.Connection[Any], str, Action, str, datetime], Outcome]
"""``(conn, workspace, action, idempotency key, now) -> Outcome``, inside the caller's transaction."""

_inside_gate: ContextVar[bool] = ContextVar("soloos_inside_gate", default=False)


class GateBypassed(RuntimeError):
    """An executor was called other than through the policy gate: a programming error, never a user's."""


@contextmanager
def through_gate() -> Iterator[None]:
    """The passage ``Gate`` opens around an executor call; nothing else may open it."""
    token = _inside_gate.set(True)
    try:
        yield
    finally:
        _inside_gate.reset(token)


def _gated(executor: Executor) -> Executor:
    @functools.wraps(executor)
    def run(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
        if not _inside_gate.get():
            raise GateBypassed(f"{action.type} can only be carried out through the policy gate (Gate.submit)")
        return executor(conn, workspace, action, key, now)

    return run


def _email_send(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    to, subject, body = (
        text_arg(action.args, "to", MAX_ADDRESS_CHARS),
        text_arg(action.args, "subject", MAX_MAIL_SUBJECT_CHARS),
        text_arg(action.args, "body"),
    )
    if "@" not in to:
        raise ConnectorError(f"{to!r} is not an e-mail address")
    grace = timedelta(seconds=int(action.args.get("__grace_seconds", 120)))
    parent = action.args.get("in_reply_to")
    if parent is not None and not (isinstance(parent, str) and MESSAGE_ID.fullmatch(parent)):
        raise ConnectorError(f"in_reply_to {str(parent)[:120]!r} is not a Message-ID like <id@host>")
    queued = effects.queue_email(
        conn, workspace, to=to, subject=subject, body=body, key=key, grace=grace, in_reply_to=parent
    )
    return Outcome(f"e-mail to {to} queued for sending (outbox #{queued})", {"kind": "outbox.cancel", "id": queued})


def _email_draft(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    to, subject, body = (
        text_arg(action.args, "to", MAX_ADDRESS_CHARS),
        text_arg(action.args, "subject", MAX_MAIL_SUBJECT_CHARS),
        text_arg(action.args, "body"),
    )
    saved = effects.save_email_draft(conn, workspace, to=to, subject=subject, body=body, key=key)
    return Outcome(f"draft to {to} saved (outbox #{saved})", {"kind": "outbox.delete_draft", "id": saved})


def _payment(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    payee = text_arg(action.args, "payee", MAX_PAYEE_CHARS)
    try:
        amount = Decimal(str(action.args.get("amount")))
    except InvalidOperation as err:
        raise ConnectorError("amount is not a number") from err
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ConnectorError("amount must be positive with at most two decimals")
    currency = str(action.args.get("currency") or "EUR").upper()
    scheduled = effects.schedule_payment(
        conn,
        workspace,
        payee=payee,
        amount=amount,
        currency=currency,
        reference=action.args.get("reference"),
        key=key,
    )
    return Outcome(
        f"payment of {amount} {currency} to {payee} scheduled (#{scheduled})",
        {"kind": "payment.cancel", "id": scheduled},
    )


@dataclass(frozen=True)
class _NewEvent:
    title: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    attendee: str | None


def _moment(args: dict[str, Any], name: str) -> datetime:
    raw = text_arg(args, name, MAX_TIME_CHARS)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise ConnectorError(f"{name} {raw!r} is not an ISO 8601 time such as 2027-03-30T10:00+02:00") from err
    if moment.tzinfo is None:
        raise ConnectorError(f"{name} {raw!r} has no UTC offset; write it like 2027-03-30T10:00+02:00")
    return moment


def _attendee(action: Action) -> str | None:
    """The optional attendee, who must be the counterparty the policy judged."""
    if action.args.get("attendee") in (None, ""):
        return None
    address = text_arg(action.args, "attendee", MAX_ADDRESS_CHARS)
    if not _ADDRESS.fullmatch(address):
        raise ConnectorError(f"attendee {address!r} is not an e-mail address")
    if (action.counterparty or "").strip().lower() != address.lower():
        raise ConnectorError(f"the attendee {address} must be the action's counterparty, so the policy judges them")
    return address


def _new_event(action: Action, now: datetime) -> _NewEvent:
    title = text_arg(action.args, "title", MAX_TITLE_CHARS, one_line=True)
    starts, ends = _moment(action.args, "starts_at"), _moment(action.args, "ends_at")
    if ends <= starts:
        raise ConnectorError(f"the event must end after it starts: ends_at {ends} is not after starts_at {starts}")
    if ends - starts > MAX_EVENT_LENGTH:
        raise ConnectorError(f"an event longer than {MAX_EVENT_LENGTH.days} days is almost certainly a wrong date")
    if starts < now - EVENT_PAST_GRACE:
        raise ConnectorError(f"the event would start in the past (starts_at {starts}); check the date")
    if starts > now + MAX_EVENT_AHEAD:
        raise ConnectorError(f"the event would start more than ten years ahead (starts_at {starts}); check the date")
    place = action.args.get("location")
    location = text_arg(action.args, "location", MAX_LOCATION_CHARS, one_line=True) if place else None
    return _NewEvent(title, starts, ends, location, _attendee(action))


def _local(moment: datetime, zone_name: object) -> str:
    """``moment`` on the operator's clock (the gate passes their zone), else in the offset it was given."""
    try:
        shown = moment.astimezone(ZoneInfo(zone_name)) if isinstance(zone_name, str) else moment
    except (ZoneInfoNotFoundError, ValueError):
        shown = moment
    return f"{shown:%a %d %b %Y %H:%M} {shown:%Z}"


def _calendar_create(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    event = _new_event(action, now)
    row_id = effects.record_pending_event(
        conn,
        workspace,
        source=EVENT_SOURCE,
        uid=event_uid(key),
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        location=event.location,
        attendee=event.attendee,
        key=key,
    )
    where = (
        "added to your calendar (it reaches the server within minutes)"
        if effects.connector_saved(conn, workspace, "calendar")
        else "saved in SoloOS; no calendar server is connected yet (`soloos connect calendar` puts it there)"
    )
    when = _local(event.starts_at, action.args.get("__timezone"))
    invites = f", inviting {event.attendee}," if event.attendee else ""  # every notice names who is invited
    return Outcome(f"event “{event.title}” on {when}{invites} {where}", {"kind": "calendar.cancel", "id": row_id})


def _memory_delete(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    try:
        memory_id = uuid.UUID(str(action.args.get("memory_id")))
    except ValueError as err:
        raise ConnectorError("memory_id is not a memory id") from err
    text = effects.delete_memory(conn, workspace, memory_id)
    if text is None:
        raise ConnectorError("no such memory in this workspace")
    return Outcome(f"forgot: {text}")


MAX_MEMORY_FACT_CHARS = 2_000  # one fact, said in a sentence or two
MAX_SUBJECT_CHARS = 120


def _memory_write(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    text = text_arg(action.args, "text", MAX_MEMORY_FACT_CHARS, one_line=True)
    layer = action.args.get("layer", "project")
    if layer not in ("project", "institutional"):
        raise ConnectorError("layer is project or institutional")
    subject = action.args.get("subject")
    if subject is not None:
        subject = text_arg(action.args, "subject", MAX_SUBJECT_CHARS, one_line=True)
    vector = action.args.get("__vector")
    if not isinstance(vector, list):
        raise ConnectorError("the memory could not be embedded")
    try:
        adopt = uuid.UUID(str(action.args["replaces"])) if action.args.get("replaces") else None
    except ValueError as err:
        raise ConnectorError("replaces is not a memory id") from err
    metadata = action.args.get("metadata")
    written = effects.write_memory(
        conn,
        workspace,
        text=text,
        layer=layer,
        subject=subject,
        vector=vector,
        source="told",
        metadata=metadata if isinstance(metadata, dict) else {},
        occurred_at=now,
        adopt=adopt,
    )
    if written.duplicate:
        return Outcome(f"already known: {text}")
    summary = f"updated: {text} (was: {written.replaced})" if written.replaced else f"noted: {text}"
    return Outcome(summary, {"kind": "memory.delete", "id": str(written.id)})


def _task_create(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
    title = text_arg(action.args, "title", MAX_TASK_TITLE_CHARS)
    task_id = effects.add_task(
        conn, workspace, title=title, due_at=action.args.get("due_at"), source=action.args.get("source", "agent")
    )
    return Outcome(f"added task #{task_id}: {title}", {"kind": "task.delete", "id": task_id})


EXECUTORS: dict[str, Executor] = {
    "email.send": _gated(_email_send),
    "email.draft": _gated(_email_draft),
    "payment.create": _gated(_payment),
    "memory.delete": _gated(_memory_delete),
    "memory.write": _gated(_memory_write),
    "task.create": _gated(_task_create),
    "calendar.create": _gated(_calendar_create),
}


def undo(conn: psycopg.Connection[Any], workspace: str, handle: dict[str, Any]) -> str:
    """Reverse what an executor (or the local tier) did, by its undo handle: a sentence saying what
    was undone, or ``ConnectorError`` when it is too late."""
    kind = handle.get("kind")
    if kind not in effects.UNDO_KINDS:
        raise ConnectorError(f"don't know how to undo {kind!r}")
    done = effects.reverse(conn, workspace, str(kind), handle["id"])
    if done is None:
        raise ConnectorError("it is too late to undo that (already sent, changed or gone)")
    return done


__all__ = ["EVENT_SOURCE", "EXECUTORS", "Executor", "GateBypassed", "through_gate", "undo"]
