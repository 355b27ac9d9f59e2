"""The audit log: typed events written in the same transaction as the change they describe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from policies.engine import Decision


@dataclass(frozen=True)
class AuditEvent:
    """One step of intent → decision → approval → outcome. ``undo`` says how to reverse it."""

    name: str  # action.executed | action.pending | action.refused | action.failed | approval.* | undo
    workspace: str
    operator: str
    intent_key: str | None = None
    action_type: str | None = None
    args: dict[str, Any] | None = None
    decision: Decision | None = None
    approval_id: str | None = None
    outcome: str | None = None
    cost: Decimal = Decimal(0)
    undo: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    event: AuditEvent
    created_at: datetime
    undone_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def record(conn: psycopg.Connection[Any], event: AuditEvent) -> int:
    decision = asdict(event.decision) if event.decision else None
    row = conn.execute(
        """INSERT INTO audit_events (workspace, operator, intent_key, name, action_type, args, decision,
                                     approval_id, outcome, cost, undo)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (
            event.workspace,
            event.operator,
            event.intent_key,
            event.name,
            event.action_type,
            Jsonb(event.args) if event.args is not None else None,
            Jsonb(decision) if decision else None,
            event.approval_id,
            event.outcome,
            event.cost,
            Jsonb(event.undo) if event.undo else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _record(row: dict[str, Any]) -> AuditRecord:
    decision = None
    if row["decision"]:
        d = row["decision"]
        decision = Decision(d["level"], d["reason"], tuple(d["risks"]), d["reversible"])
    event = AuditEvent(
        name=row["name"],
        workspace=row["workspace"],
        operator=row["operator"],
        intent_key=row["intent_key"],
        action_type=row["action_type"],
        args=row["args"],
        decision=decision,
        approval_id=row["approval_id"],
        outcome=row["outcome"],
        cost=Decimal(row["cost"]),
        undo=row["undo"],
    )
    return AuditRecord(row["id"], event, row["created_at"], row["undone_at"])


def get(conn: psycopg.Connection[Any], workspace: str, event_id: int) -> AuditRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM audit_events WHERE workspace = %s AND id = %s", (workspace, event_id)
        ).fetchone()
    return _record(row) if row else None


def for_approval(conn: psycopg.Connection[Any], approval_id: str) -> list[AuditRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM audit_events WHERE approval_id = %s ORDER BY id", (approval_id,)).fetchall()
    return [_record(r) for r in rows]


def recent(conn: psycopg.Connection[Any], workspace: str, limit: int = 10) -> list[AuditRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM audit_events WHERE workspace = %s ORDER BY id DESC LIMIT %s", (workspace, limit)
        ).fetchall()
    return [_record(r) for r in rows]


def last_undoable(conn: psycopg.Connection[Any], workspace: str, operator: str) -> AuditRecord | None:
    """The newest reversible action of this operator that has not been undone (row locked)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """SELECT * FROM audit_events WHERE workspace = %s AND operator = %s AND undo IS NOT NULL
               AND undone_at IS NULL AND name = 'action.executed' ORDER BY id DESC LIMIT 1 FOR UPDATE""",
            (workspace, operator),
        ).fetchone()
    return _record(row) if row else None


def mark_undone(conn: psycopg.Connection[Any], event_id: int) -> None:
    conn.execute("UPDATE audit_events SET undone_at = now() WHERE id = %s", (event_id,))


def attach(conn: psycopg.Connection[Any], workspace: str, intent_key: str, approval_id: str) -> int:
    """Make the events an intent recorded before its approval existed part of that approval's story
    (``for_approval``, ``/why <code>``); returns how many."""
    cursor = conn.execute(
        """UPDATE audit_events SET approval_id = %s
           WHERE workspace = %s AND intent_key = %s AND approval_id IS NULL AND name = 'action.executed'""",
        (approval_id, workspace, intent_key),
    )
    return cursor.rowcount
