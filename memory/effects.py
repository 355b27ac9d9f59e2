"""The statements behind the policy gate's effects, each run in the caller's transaction (the gate's),
so an effect, its idempotency key and its audit event commit together.

- The side-effect ledger: one row per idempotency key, claimed with the effect, so an effect happens
  once per key however often it is retried (``claim_effect`` / ``settle_effect``).
- The effects the gate's executors carry out (``agents.gate.executors`` validates the arguments and
  words the outcome; this module only writes), and how to reverse them (``reverse``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from memory._memory_service import content_hash, known_subject, normalize_subject, normalize_text
from memory._memory_types import OPERATOR_ORIGIN


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


def queue_email(
    conn: psycopg.Connection[Any],
    workspace: str,
    *,
    to: str,
    subject: str,
    body: str,
    key: str,
    grace: timedelta,
    in_reply_to: str | None,
) -> int:
    """Queue an e-mail in the outbox, to be sent after ``grace``. Returns its outbox id."""
    row = conn.execute(
        """INSERT INTO outbox (workspace, recipient, subject, body, status, idempotency_key, send_after, in_reply_to)
           VALUES (%s, %s, %s, %s, 'queued', %s, now() + %s, %s) RETURNING id""",
        (workspace, to, subject, body, key, grace, in_reply_to),
    ).fetchone()
    assert row is not None
    return int(row[0])


def save_email_draft(
    conn: psycopg.Connection[Any], workspace: str, *, to: str, subject: str, body: str, key: str
) -> int:
    row = conn.execute(
        """INSERT INTO outbox (workspace, recipient, subject, body, status, idempotency_key)
           VALUES (%s, %s, %s, %s, 'draft', %s) RETURNING id""",
        (workspace, to, subject, body, key),
    ).fetchone()
    assert row is not None
    return int(row[0])


def schedule_payment(
    conn: psycopg.Connection[Any],
    workspace: str,
    *,
    payee: str,
    amount: Decimal,
    currency: str,
    reference: Any,
    key: str,
) -> int:
    row = conn.execute(
        """INSERT INTO payments (workspace, payee, amount, currency, reference, idempotency_key)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (workspace, payee, amount, currency, reference, key),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_pending_event(
    conn: psycopg.Connection[Any],
    workspace: str,
    *,
    source: str,
    uid: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str | None,
    attendee: str | None,
    key: str,
) -> int:
    """The id of the 'pending' event row with ``uid``: inserted, or the one an earlier try made."""
    row = conn.execute(
        "SELECT id FROM events WHERE workspace = %s AND uid = %s AND push_status IS NOT NULL", (workspace, uid)
    ).fetchone()
    if row is None:
        row = conn.execute(
            """INSERT INTO events (workspace, source, external_id, uid, title, starts_at, ends_at, location,
                                   attendee, push_status, push_key)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s) RETURNING id""",
            (workspace, source, uid, uid, title, starts_at, ends_at, location, attendee, key),
        ).fetchone()
    assert row is not None
    return int(row[0])


def connector_saved(conn: psycopg.Connection[Any], workspace: str, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM connector_configs WHERE workspace = %s AND name = %s", (workspace, name)
    ).fetchone()
    return found is not None


def delete_memory(conn: psycopg.Connection[Any], workspace: str, memory_id: uuid.UUID) -> str | None:
    """The deleted memory's text, or None when the workspace has no such memory."""
    row = conn.execute(
        "DELETE FROM memories WHERE id = %s AND workspace = %s RETURNING text", (memory_id, workspace)
    ).fetchone()
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class WrittenMemory:
    id: uuid.UUID
    duplicate: bool  # the same text was already in this layer: the original is kept
    replaced: str | None  # the text of the memory on the same subject this one superseded


def write_memory(
    conn: psycopg.Connection[Any],
    workspace: str,
    *,
    text: str,
    layer: str,
    subject: str | None,
    vector: list[float],
    source: str,
    metadata: dict[str, Any],
    occurred_at: datetime,
    adopt: uuid.UUID | None = None,
    origin: str = OPERATOR_ORIGIN,
) -> WrittenMemory:
    """A confirmed memory (the coordinator's ``remember``/``correct``, or an MCP client's request the operator
    approved; ``origin`` names who asked), shaped as ``MemoryService.remember`` writes it. ``adopt``: a
    memory without a subject that this one corrects takes the subject first, so this one supersedes it
    (it stays as history)."""
    import numpy as np

    clean, key = normalize_text(text), normalize_subject(subject)
    if key:
        key = known_subject(conn, workspace, key)
    digest = content_hash(clean)
    if adopt is not None and key:
        conn.execute(
            "UPDATE memories SET subject = %s WHERE id = %s AND workspace = %s AND subject IS NULL",
            (key, adopt, workspace),
        )
    payload = {"data": clean, "user_id": workspace, "hash": digest, "layer": layer, "metadata": metadata}
    row = conn.execute(
        """INSERT INTO memories (id, vector, payload, workspace, layer, text, subject, source, occurred_at,
                                 content_hash, origin, confirmed)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)
           ON CONFLICT (workspace, layer, content_hash) DO NOTHING RETURNING id""",
        (
            uuid.uuid4(),
            np.asarray(vector, dtype=np.float32),
            Jsonb(payload),
            workspace,
            layer,
            clean,
            key,
            source,
            occurred_at,
            digest,
            normalize_text(origin),
        ),
    ).fetchone()
    if row is None:
        existing = conn.execute(
            "SELECT id FROM memories WHERE workspace = %s AND layer = %s AND content_hash = %s",
            (workspace, layer, digest),
        ).fetchone()
        assert existing is not None
        return WrittenMemory(existing[0], True, None)
    older = None
    if key:
        older = conn.execute(
            """SELECT text FROM memories WHERE workspace = %s AND subject = %s AND id <> %s AND confirmed
               AND occurred_at <= %s ORDER BY occurred_at DESC, created_at DESC LIMIT 1""",
            (workspace, key, row[0], occurred_at),
        ).fetchone()
    return WrittenMemory(row[0], False, str(older[0]) if older else None)


def add_task(conn: psycopg.Connection[Any], workspace: str, *, title: str, due_at: Any, source: Any) -> int:
    row = conn.execute(
        "INSERT INTO tasks (workspace, title, due_at, source) VALUES (%s, %s, %s, %s) RETURNING id",
        (workspace, title, due_at, source),
    ).fetchone()
    assert row is not None
    return int(row[0])


# How to reverse what an executor (or the local tier) did. Each returns a sentence, or is
# refused (None) when it is too late. A statement that returns a ``done`` column says its own sentence
# (when what was undone depends on how far the action had got).
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
    # A fact forgotten with its Forget button (memory._learned): back as it was, unless the same text
    # was stored again meanwhile.
    "memory.restore": (
        """WITH r AS (DELETE FROM forgotten_memories WHERE id = %s AND workspace = %s RETURNING row)
           INSERT INTO memories (id, vector, payload, workspace, layer, text, subject, source, occurred_at,
                                 created_at, expires_at, content_hash, origin, confirmed)
           SELECT p.id, p.vector, p.payload, p.workspace, p.layer, p.text, p.subject, p.source, p.occurred_at,
                  p.created_at, p.expires_at, p.content_hash, p.origin, p.confirmed
           FROM r, jsonb_populate_record(NULL::memories, r.row) p
           ON CONFLICT DO NOTHING RETURNING id""",
        "the memory is back",
    ),
    # A fact kept with its Keep button: not kept, and confirmed only if it was before.
    "memory.unkeep": (
        """UPDATE memories SET
               confirmed = coalesce((payload->'metadata'->>'kept_was_confirmed')::boolean, confirmed),
               payload = jsonb_set(payload, '{metadata}',
                                   (payload->'metadata') - 'kept' - 'kept_at' - 'kept_was_confirmed')
           WHERE id = %s AND workspace = %s AND payload->'metadata'->>'kept' = 'true' RETURNING id""",
        "the fact is no longer kept",
    ),
    "memory.unconfirm": (
        "UPDATE memories SET confirmed = false WHERE id = %s AND workspace = %s AND confirmed RETURNING id",
        "the memory is unconfirmed again",
    ),
    # What intake wrote for a lead: its contact (only while it is still a lead's), its first-reply draft.
    "contact.delete_lead": (
        "DELETE FROM contacts WHERE id = %s AND workspace = %s AND source = 'lead' RETURNING id",
        "the lead's contact was removed",
    ),
    "draft.discard": (
        "UPDATE drafts SET status = 'discarded' WHERE id = %s AND workspace = %s AND status = 'draft' RETURNING id",
        "the draft was discarded",
    ),
    # Not on the server yet: forget it (a flush that was pushing it meanwhile takes it off again).
    # Already there: the next flush deletes it on the server, then here.
    "calendar.cancel": (
        """WITH target AS (SELECT %s::bigint AS id, %s::text AS workspace),
           removed AS (
               DELETE FROM events e USING target t
               WHERE e.id = t.id AND e.workspace = t.workspace AND e.push_status IN ('pending', 'failed')
               RETURNING e.id, 'the event was removed before it reached your calendar server'::text AS done),
           marked AS (
               UPDATE events e SET push_status = 'cancelled', push_error = NULL, updated_at = now() FROM target t
               WHERE e.id = t.id AND e.workspace = t.workspace AND e.push_status = 'pushed'
               RETURNING e.id, 'the event is deleted from your calendar server within minutes'::text AS done)
           SELECT id, done FROM removed UNION ALL SELECT id, done FROM marked""",
        "the event was cancelled",
    ),
}


UNDO_KINDS = frozenset(_UNDO_SQL)


def reverse(conn: psycopg.Connection[Any], workspace: str, kind: str, target: Any) -> str | None:
    """Reverse an effect by its undo handle (``kind`` must be in ``UNDO_KINDS``). The sentence saying
    what was undone, or None when it is too late (already sent, changed or gone)."""
    sql, done = _UNDO_SQL[kind]
    cursor = conn.execute(sql.encode(), (target, workspace))
    row = cursor.fetchone()
    if row is None:
        return None
    columns = [column.name for column in cursor.description or ()]
    return str(row[columns.index("done")]) if "done" in columns else done


__all__ = [
    "UNDO_KINDS",
    "WrittenMemory",
    "add_task",
    "claim_effect",
    "connector_saved",
    "delete_memory",
    "queue_email",
    "record_pending_event",
    "reverse",
    "save_email_draft",
    "schedule_payment",
    "settle_effect",
    "write_memory",
]
