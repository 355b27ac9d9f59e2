"""Durable approvals: pending → approved | denied | expired, then approved → executed | failed.

Each approval is a Postgres row with a short random token (the callback data of its buttons),
bound to the operator who must decide. Deciding is one conditional UPDATE, so a double click, a
second channel or a second process can decide it only once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from policies.engine import Action, Decision

Status = Literal["pending", "approved", "denied", "expired", "executed", "failed"]


@dataclass(frozen=True)
class Approval:
    id: str
    workspace: str
    operator: str
    action: Action
    reason: str
    risks: tuple[str, ...]
    status: Status
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    outcome: str | None
    intent_key: str | None

    @property
    def callback(self) -> str:
        return f"ap:{self.id}"


def _approval(row: dict[str, Any]) -> Approval:
    args = dict(row["args"])
    amount = args.pop("__amount", None)
    counterparty = args.pop("__counterparty", None)
    from decimal import Decimal

    return Approval(
        id=row["id"],
        workspace=row["workspace"],
        operator=row["operator"],
        action=Action(row["action_type"], args, row["summary"], Decimal(amount) if amount else None, counterparty),
        reason=row["reason"],
        risks=tuple(row["risks"]),
        status=row["status"],
        requested_at=row["requested_at"],
        expires_at=row["expires_at"],
        decided_by=row["decided_by"],
        outcome=row["outcome"],
        intent_key=row["intent_key"],
    )


def new_token() -> str:
    return secrets.token_urlsafe(9)  # 12 URL-safe characters; "ap:" + token fits Telegram's 64 bytes


def create(
    conn: psycopg.Connection[Any],
    *,
    workspace: str,
    operator: str,
    intent_key: str | None,
    action: Action,
    decision: Decision,
    tool_call_id: str,
    run_state: Any,
    ttl: timedelta,
) -> Approval:
    args = dict(action.args)
    if action.amount is not None:
        args["__amount"] = str(action.amount)
    if action.counterparty is not None:
        args["__counterparty"] = action.counterparty
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """INSERT INTO approvals (id, workspace, operator, intent_key, action_type, args, summary, reason, risks,
                                      tool_call_id, run_state, expires_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s) RETURNING *""",
            (
                new_token(),
                workspace,
                operator,
                intent_key,
                action.type,
                Jsonb(args),
                action.summary,
                decision.reason,
                Jsonb(list(decision.risks)),
                tool_call_id,
                Jsonb(run_state),
                ttl,
            ),
        ).fetchone()
    assert row is not None
    return _approval(row)


def expire_stale(conn: psycopg.Connection[Any], workspace: str | None = None) -> list[Approval]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """UPDATE approvals SET status = 'expired', decided_at = now(), outcome = 'expired unanswered'
               WHERE status = 'pending' AND expires_at <= now() AND (%s::text IS NULL OR workspace = %s)
               RETURNING *""",
            (workspace, workspace),
        ).fetchall()
    return [_approval(r) for r in rows]


def pending(conn: psycopg.Connection[Any], workspace: str) -> list[Approval]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM approvals WHERE workspace = %s AND status = 'pending' ORDER BY requested_at",
            (workspace,),
        ).fetchall()
    return [_approval(r) for r in rows]


def get(conn: psycopg.Connection[Any], token: str) -> Approval | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM approvals WHERE id = %s", (token,)).fetchone()
    return _approval(row) if row else None


DecideOutcome = Literal["approved", "denied", "unknown", "not_yours", "expired", "already_decided", "own_request"]


def requested_by(conn: psycopg.Connection[Any], token: str) -> str | None:
    """Who asked for the action (``channel:user`` of the message that led to it), when known: the
    dispatcher stores it with the reply it gave that message."""
    row = conn.execute(
        """SELECT h.reply->>'asked_by' FROM approvals a JOIN handled_intents h ON h.idempotency_key = a.intent_key
           WHERE a.id = %s""",
        (token,),
    ).fetchone()
    return row[0] if row else None


def decide(
    conn: psycopg.Connection[Any],
    token: str,
    *,
    operator: str,
    approve: bool,
    decider: str | None = None,
    own_requests: bool = True,
) -> tuple[DecideOutcome, Approval | None]:
    """Record the operator's decision, once. Returns what happened and the approval as it now is.
    With ``own_requests`` False, ``decider`` (``channel:user``) may not approve what they asked for
    (separation of duties); denying stays open to everyone."""
    if approve and not own_requests and decider is not None and requested_by(conn, token) == decider:
        current = get(conn, token)
        if current is not None and current.status == "pending" and current.operator == operator:
            return "own_request", current
    status = "approved" if approve else "denied"
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """UPDATE approvals SET status = %s, decided_at = now(), decided_by = %s
               WHERE id = %s AND status = 'pending' AND operator = %s AND expires_at > now() RETURNING *""",
            (status, operator, token, operator),
        ).fetchone()
    if row is not None:
        return status, _approval(row)  # type: ignore[return-value]
    current = get(conn, token)
    if current is None:
        return "unknown", None
    if current.operator != operator:
        return "not_yours", current
    if current.status == "pending":  # past its expiry but not yet swept
        expire_stale(conn, current.workspace)
        return "expired", get(conn, token)
    if current.status == "expired":
        return "expired", current
    return "already_decided", current


def finish(conn: psycopg.Connection[Any], token: str, *, ok: bool, outcome: str) -> None:
    conn.execute(
        "UPDATE approvals SET status = %s, outcome = %s WHERE id = %s AND status = 'approved'",
        ("executed" if ok else "failed", outcome, token),
    )


def approved_unexecuted(conn: psycopg.Connection[Any], workspace: str | None = None) -> list[Approval]:
    """Approved but not yet executed: a crash happened between the click and the action."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT * FROM approvals WHERE status = 'approved' AND (%s::text IS NULL OR workspace = %s)
               ORDER BY decided_at""",
            (workspace, workspace),
        ).fetchall()
    return [_approval(r) for r in rows]


def revise(conn: psycopg.Connection[Any], token: str, *, operator: str, action: Action, decision: Decision) -> bool:
    """Replace a pending approval's action (the operator edited it) with its fresh policy verdict."""
    args = dict(action.args)
    if action.amount is not None:
        args["__amount"] = str(action.amount)
    if action.counterparty is not None:
        args["__counterparty"] = action.counterparty
    row = conn.execute(
        """UPDATE approvals SET args = %s, summary = %s, reason = %s, risks = %s
           WHERE id = %s AND operator = %s AND status = 'pending' AND expires_at > now() RETURNING id""",
        (Jsonb(args), action.summary, decision.reason, Jsonb(list(decision.risks)), token, operator),
    ).fetchone()
    return row is not None
