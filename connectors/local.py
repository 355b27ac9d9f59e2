"""The built-in local connectors: the effects SoloOS can carry out before the real email, calendar
and bank connectors exist. Each executor runs inside the caller's transaction (so the effect, its
idempotency key and its audit event commit together) and returns its outcome and undo handle.

- ``email.send`` queues the message in the outbox (delivered by the email connector once it is
  configured), after a grace window in which ``/undo`` cancels it.
- ``email.draft`` stores a draft in the outbox.
- ``payment.create`` schedules a payment in the payments ledger.
- ``memory.write`` / ``memory.delete``, ``task.create`` / ``task.complete`` change records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg

from policies.engine import Action


class ConnectorError(Exception):
    """The connector could not carry out the action (bad arguments or a failed system)."""


@dataclass(frozen=True)
class Outcome:
    summary: str
    undo: dict[str, Any] | None = None


Executor = Callable[[psycopg.Connection[Any], str, Action, str], Outcome]


def _text(args: dict[str, Any], name: str, limit: int = 20_000) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConnectorError(f"{name} is missing")
    if len(value) > limit:
        raise ConnectorError(f"{name} is longer than {limit} characters")
    return value.strip()


def _email_send(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str) -> Outcome:
    to, subject, body = _text(action.args, "to", 320), _text(action.args, "subject", 500), _text(action.args, "body")
    if "@" not in to:
        raise ConnectorError(f"{to!r} is not an e-mail address")
    grace = timedelta(seconds=int(action.args.get("__grace_seconds", 120)))
    row = conn.execute(
        """INSERT INTO outbox (workspace, recipient, subject, body, status, idempotency_key, send_after)
           VALUES (%s, %s, %s, %s, 'queued', %s, now() + %s) RETURNING id""",
        (workspace, to, subject, body, key, grace),
    ).fetchone()
    assert row is not None
    return Outcome(f"e-mail to {to} queued for sending (outbox #{row[0]})", {"kind": "outbox.cancel", "id": row[0]})


def _email_draft(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str) -> Outcome:
    to, subject, body = _text(action.args, "to", 320), _text(action.args, "subject", 500), _text(action.args, "body")
    row = conn.execute(
        """INSERT INTO outbox (workspace, recipient, subject, body, status, idempotency_key)
           VALUES (%s, %s, %s, %s, 'draft', %s) RETURNING id""",
        (workspace, to, subject, body, key),
    ).fetchone()
    assert row is not None
    return Outcome(f"draft to {to} saved (outbox #{row[0]})", {"kind": "outbox.delete_draft", "id": row[0]})


def _payment(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str) -> Outcome:
    payee = _text(action.args, "payee", 200)
    try:
        amount = Decimal(str(action.args.get("amount")))
    except InvalidOperation as err:
        raise ConnectorError("amount is not a number") from err
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ConnectorError("amount must be positive with at most two decimals")
    currency = str(action.args.get("currency") or "EUR").upper()
    row = conn.execute(
        """INSERT INTO payments (workspace, payee, amount, currency, reference, idempotency_key)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (workspace, payee, amount, currency, action.args.get("reference"), key),
    ).fetchone()
    assert row is not None
    return Outcome(
        f"payment of {amount} {currency} to {payee} scheduled (#{row[0]})", {"kind": "payment.cancel", "id": row[0]}
    )


def _memory_delete(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str) -> Outcome:
    try:
        memory_id = uuid.UUID(str(action.args.get("memory_id")))
    except ValueError as err:
        raise ConnectorError("memory_id is not a memory id") from err
    row = conn.execute(
        "DELETE FROM memories WHERE id = %s AND workspace = %s RETURNING text", (memory_id, workspace)
    ).fetchone()
    if row is None:
        raise ConnectorError("no such memory in this workspace")
    return Outcome(f"forgot: {row[0]}")


def _task_create(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str) -> Outcome:
    title = _text(action.args, "title", 500)
    row = conn.execute(
        "INSERT INTO tasks (workspace, title, due_at, source) VALUES (%s, %s, %s, %s) RETURNING id",
        (workspace, title, action.args.get("due_at"), action.args.get("source", "agent")),
    ).fetchone()
    assert row is not None
    return Outcome(f"added task #{row[0]}: {title}", {"kind": "task.delete", "id": row[0]})


EXECUTORS: dict[str, Executor] = {
    "email.send": _email_send,
    "email.draft": _email_draft,
    "payment.create": _payment,
    "memory.delete": _memory_delete,
    "task.create": _task_create,
}

# How to reverse what an executor (or the local tier) did. Each returns a sentence, or raises
# ConnectorError when it is too late.
_UNDO_SQL: dict[str, tuple[str, str]] = {
    "outbox.cancel": (
        "UPDATE outbox SET status = 'cancelled' WHERE id = %s AND workspace = %s AND status = 'queued' "
        "AND send_after > now() RETURNING id",
        "the e-mail was cancelled before sending",
    ),
    "outbox.delete_draft": (
        "DELETE FROM outbox WHERE id = %s AND workspace = %s AND status = 'draft' RETURNING id",
        "the draft was deleted",
    ),
    "payment.cancel": (
        "UPDATE payments SET status = 'cancelled' WHERE id = %s AND workspace = %s AND status = 'scheduled' "
        "RETURNING id",
        "the payment was cancelled",
    ),
    "task.delete": ("DELETE FROM tasks WHERE id = %s AND workspace = %s RETURNING id", "the task was removed"),
    "task.reopen": (
        "UPDATE tasks SET status = 'open', done_at = NULL WHERE id = %s AND workspace = %s RETURNING id",
        "the task is open again",
    ),
    "schedule.cancel": (
        "WITH c AS (UPDATE schedules SET status = 'cancelled' WHERE id = %s AND workspace = %s AND status = 'active' "
        "RETURNING id) SELECT id, pg_notify('soloos_schedules', id::text) FROM c",
        "the reminder was cancelled",
    ),
    "memory.delete": ("DELETE FROM memories WHERE id = %s AND workspace = %s RETURNING id", "the memory was removed"),
}


def undo(conn: psycopg.Connection[Any], workspace: str, handle: dict[str, Any]) -> str:
    kind = handle.get("kind")
    if kind not in _UNDO_SQL:
        raise ConnectorError(f"don't know how to undo {kind!r}")
    sql, done = _UNDO_SQL[kind]
    row = conn.execute(sql.encode(), (handle["id"], workspace)).fetchone()
    if row is None:
        raise ConnectorError("it is too late to undo that (already sent, changed or gone)")
    return done


def claim_effect(conn: psycopg.Connection[Any], key: str, workspace: str, action_type: str) -> str | None:
    """Reserve an idempotency key in the caller's transaction. Returns the earlier result when the
    effect already happened (the caller must then not act again), else None."""
    row = conn.execute(
        """INSERT INTO side_effects (idempotency_key, workspace, action_type, result) VALUES (%s, %s, %s, '')
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1""",
        (key, workspace, action_type),
    ).fetchone()
    if row is not None:
        return None
    done = conn.execute("SELECT result FROM side_effects WHERE idempotency_key = %s", (key,)).fetchone()
    return str(done[0]) if done else ""


def settle_effect(conn: psycopg.Connection[Any], key: str, result: str) -> None:
    conn.execute("UPDATE side_effects SET result = %s WHERE idempotency_key = %s", (result, key))
