"""Drafts and leads: the records behind the drafting and intake work surfaces.

``Drafts`` keeps every version of every draft with the inputs that produced it; a new version of a
thread gets the next number under a per-thread lock, so two writers never collide. ``Intakes``
keeps one row per lead, keyed by the message it came from, and the steps taken for it.

A draft's shown status is derived when it is read: ``sent`` once an e-mail with its recipient,
subject and body left the outbox (whichever path sent it), ``queued`` while it waits in the outbox's
undo window, ``awaiting approval`` while its ``email.send`` approval is pending.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._messages import Message, _message
from memory._postgres import Database
from memory.errors import InvalidMemory, NotFound

DraftKind = Literal["email", "proposal", "post", "reply"]
DraftAuthor = Literal["agent", "operator", "intake", "plan"]
DRAFT_KINDS: tuple[DraftKind, ...] = ("email", "proposal", "post", "reply")
MAX_DRAFT_CHARS = 50_000


@dataclass(frozen=True)
class Draft:
    id: int
    workspace: str
    thread: str
    kind: DraftKind
    title: str
    counterparty: str | None
    version: int
    subject: str
    body: str
    inputs: dict[str, Any]
    inputs_hash: str
    parent_id: int | None
    created_by: DraftAuthor
    status: str  # draft | sent | discarded as stored; "queued" / "awaiting approval" derived on read
    approval_id: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread": self.thread,
            "kind": self.kind,
            "title": self.title,
            "counterparty": self.counterparty,
            "version": self.version,
            "subject": self.subject,
            "body": self.body,
            "inputs": self.inputs,
            "parent_id": self.parent_id,
            "created_by": self.created_by,
            "status": self.status,
            "approval_id": self.approval_id,
            "created_at": self.created_at.isoformat(),
        }


# The status a reader sees: stored 'discarded' and 'sent' stand; otherwise what the outbox and the
# approval say about it.
_STATUS = """
    CASE WHEN d.status <> 'draft' THEN d.status
         WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.workspace = d.workspace AND o.status = 'sent'
                      AND lower(o.recipient) = lower(d.counterparty) AND o.subject = d.subject AND o.body = d.body)
              OR EXISTS (SELECT 1 FROM outbox o WHERE o.workspace = d.workspace AND o.status = 'sent'
                         AND o.idempotency_key = 'approval:' || d.approval_id)
              THEN 'sent'
         WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.workspace = d.workspace AND o.status IN ('queued', 'sending')
                      AND lower(o.recipient) = lower(d.counterparty) AND o.subject = d.subject AND o.body = d.body)
              OR EXISTS (SELECT 1 FROM outbox o WHERE o.workspace = d.workspace AND o.status IN ('queued', 'sending')
                         AND o.idempotency_key = 'approval:' || d.approval_id)
              OR EXISTS (SELECT 1 FROM approvals a WHERE a.id = d.approval_id AND a.status = 'approved')
              THEN 'queued'
         WHEN EXISTS (SELECT 1 FROM approvals a WHERE a.id = d.approval_id AND a.status = 'pending'
                      AND a.expires_at > now())
              THEN 'awaiting approval'
         ELSE 'draft' END AS shown_status
"""
_SELECT = f"SELECT d.*, {_STATUS} FROM drafts d"


def _draft(row: dict[str, Any]) -> Draft:
    return Draft(
        id=row["id"],
        workspace=row["workspace"],
        thread=row["thread"],
        kind=row["kind"],
        title=row["title"],
        counterparty=row["counterparty"],
        version=row["version"],
        subject=row["subject"],
        body=row["body"],
        inputs=dict(row["inputs"]),
        inputs_hash=row["inputs_hash"],
        parent_id=row["parent_id"],
        created_by=row["created_by"],
        status=row.get("shown_status") or row["status"],
        approval_id=row["approval_id"],
        created_at=row["created_at"],
    )


class Drafts:
    """Versioned drafts of a workspace."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        workspace: str,
        thread: str,
        kind: DraftKind,
        title: str,
        counterparty: str | None,
        subject: str,
        body: str,
        inputs: dict[str, Any],
        inputs_hash: str,
        created_by: DraftAuthor,
        parent_id: int | None = None,
    ) -> Draft:
        """Store the next version of ``thread``."""
        if kind not in DRAFT_KINDS:
            raise InvalidMemory(f"a draft is one of {', '.join(DRAFT_KINDS)}, not {kind!r}")
        title = " ".join(title.split())[:200]
        if not title or not thread:
            raise InvalidMemory("a draft needs a title")
        if not body.strip():
            raise InvalidMemory("a draft needs a body")
        if len(body) > MAX_DRAFT_CHARS or "\x00" in body + subject:
            raise InvalidMemory(f"a draft is at most {MAX_DRAFT_CHARS:,} characters of text")

        def run() -> Draft:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"draft:{workspace}:{thread}",))
                top = cur.execute(
                    "SELECT coalesce(max(version), 0) AS v FROM drafts WHERE workspace = %s AND thread = %s",
                    (workspace, thread),
                ).fetchone()
                version = int(top["v"] if top else 0) + 1
                row = cur.execute(
                    """INSERT INTO drafts (workspace, thread, kind, title, counterparty, version, subject, body,
                                           inputs, inputs_hash, parent_id, created_by)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
                    (
                        workspace,
                        thread,
                        kind,
                        title,
                        counterparty,
                        version,
                        subject,
                        body,
                        Jsonb(inputs),
                        inputs_hash,
                        parent_id,
                        created_by,
                    ),
                ).fetchone()
            assert row is not None
            return _draft(row)

        return await asyncio.to_thread(run)

    async def by_inputs(self, workspace: str, inputs_hash: str) -> Draft | None:
        """The newest version made from identical inputs that was not thrown away."""
        found = await self._select(
            "d.workspace = %s AND d.inputs_hash = %s AND d.status <> 'discarded' ORDER BY d.id DESC LIMIT 1",
            (workspace, inputs_hash),
        )
        return found[0] if found else None

    async def get(self, workspace: str, draft_id: int) -> Draft:
        found = await self._select("d.workspace = %s AND d.id = %s", (workspace, draft_id))
        if not found:
            raise NotFound(f"no draft #{draft_id}")
        return found[0]

    async def history(self, workspace: str, thread: str) -> list[Draft]:
        """Every version of one draft, oldest first."""
        return await self._select("d.workspace = %s AND d.thread = %s ORDER BY d.version", (workspace, thread))

    async def latest(self, workspace: str, *, limit: int = 50, include_discarded: bool = False) -> list[Draft]:
        """The newest version of each draft, most recent first."""
        found = await self._select(
            """d.workspace = %s AND d.version = (SELECT max(version) FROM drafts n
                                                  WHERE n.workspace = d.workspace AND n.thread = d.thread)
               ORDER BY d.created_at DESC, d.id DESC LIMIT %s""",
            (workspace, limit),
        )
        return [d for d in found if include_discarded or d.status != "discarded"]

    async def set_status(self, workspace: str, draft_id: int, status: Literal["draft", "sent", "discarded"]) -> Draft:
        def run() -> None:
            with self.db.connection() as conn:
                done = conn.execute(
                    "UPDATE drafts SET status = %s WHERE workspace = %s AND id = %s", (status, workspace, draft_id)
                ).rowcount
            if not done:
                raise NotFound(f"no draft #{draft_id}")

        await asyncio.to_thread(run)
        return await self.get(workspace, draft_id)

    async def link_approval(self, workspace: str, draft_id: int, approval_id: str) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    "UPDATE drafts SET approval_id = %s WHERE workspace = %s AND id = %s",
                    (approval_id, workspace, draft_id),
                )

        await asyncio.to_thread(run)

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[Draft]:
        def run() -> list[Draft]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(f"{_SELECT} WHERE {where}".encode(), params).fetchall()
            return [_draft(r) for r in rows]

        return await asyncio.to_thread(run)


@dataclass(frozen=True)
class Intake:
    id: int
    workspace: str
    source_ref: str
    channel: Literal["email", "chat"]
    name: str
    email: str | None
    need: str
    contact_id: int | None
    memory_id: UUID | None
    draft_id: int | None
    approval_id: str | None
    task_id: int | None
    first_seen_at: datetime
    replied_at: datetime | None
    done_at: datetime | None

    @property
    def response_time(self) -> timedelta | None:
        return self.replied_at - self.first_seen_at if self.replied_at else None


def _intake(row: dict[str, Any]) -> Intake:
    return Intake(**{name: row[name] for name in Intake.__dataclass_fields__})


_STEPS = frozenset({"contact_id", "memory_id", "draft_id", "approval_id", "task_id"})
STALE_CLAIM = timedelta(minutes=5)  # a lead claimed this long ago and not done: its worker died

# The first e-mail sent to a lead's address after it arrived (outbox rows reach 'sent' once delivered).
_REPLIED = """
    UPDATE intakes i SET replied_at = r.sent_at FROM (
        SELECT i2.id, min(o.sent_at) AS sent_at FROM intakes i2 JOIN outbox o
          ON o.workspace = i2.workspace AND lower(o.recipient) = lower(i2.email)
         AND o.status = 'sent' AND o.sent_at >= i2.first_seen_at
        WHERE i2.workspace = %s AND i2.replied_at IS NULL GROUP BY i2.id) r
    WHERE i.id = r.id
"""


class Intakes:
    """Leads of a workspace and what was done for each."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(
        self,
        workspace: str,
        source_ref: str,
        *,
        channel: Literal["email", "chat"],
        name: str,
        email: str | None,
        need: str,
        first_seen_at: datetime,
    ) -> tuple[Intake, bool]:
        """The lead for ``source_ref`` and whether this caller must carry out its steps: True for the
        first claim, and for a takeover of one left unfinished by a worker that died."""

        def run() -> tuple[Intake, bool]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """INSERT INTO intakes (workspace, source_ref, channel, name, email, need, first_seen_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (workspace, source_ref) DO NOTHING
                       RETURNING *""",
                    (workspace, source_ref, channel, name, email, need, first_seen_at),
                ).fetchone()
                if row is not None:
                    return _intake(row), True
                row = cur.execute(
                    """UPDATE intakes SET claimed_at = now() WHERE workspace = %s AND source_ref = %s
                       AND done_at IS NULL AND claimed_at < now() - %s RETURNING *""",
                    (workspace, source_ref, STALE_CLAIM),
                ).fetchone()
                if row is not None:
                    return _intake(row), True
                row = cur.execute(
                    "SELECT * FROM intakes WHERE workspace = %s AND source_ref = %s", (workspace, source_ref)
                ).fetchone()
            assert row is not None
            return _intake(row), False

        return await asyncio.to_thread(run)

    async def record(self, intake_id: int, **steps: Any) -> None:
        """Remember the record a step made (``contact_id=…``, ``draft_id=…``); ``done=True`` closes it."""
        done = steps.pop("done", False)
        unknown = set(steps) - _STEPS
        if unknown:
            raise ValueError(f"not an intake step: {', '.join(sorted(unknown))}")
        sets = [f"{name} = %s" for name in steps] + (["done_at = now()"] if done else [])
        if not sets:
            return

        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    f"UPDATE intakes SET {', '.join(sets)} WHERE id = %s".encode(), (*steps.values(), intake_id)
                )

        await asyncio.to_thread(run)

    async def get(self, workspace: str, intake_id: int) -> Intake:
        found = await self._select("workspace = %s AND id = %s", (workspace, intake_id))
        if not found:
            raise NotFound(f"no lead #{intake_id}")
        return found[0]

    async def by_email(self, workspace: str, email: str) -> Intake | None:
        found = await self._select(
            "workspace = %s AND lower(email) = lower(%s) ORDER BY id LIMIT 1", (workspace, email)
        )
        return found[0] if found else None

    async def list(self, workspace: str, *, limit: int = 50) -> builtins.list[Intake]:
        """Leads, newest first, with ``replied_at`` brought up to date from the outbox."""

        def refresh() -> None:
            with self.db.connection() as conn:
                conn.execute(_REPLIED.encode(), (workspace,))

        await asyncio.to_thread(refresh)
        return await self._select("workspace = %s ORDER BY first_seen_at DESC, id DESC LIMIT %s", (workspace, limit))

    async def mail_candidates(self, workspace: str, *, since: datetime, limit: int = 50) -> builtins.list[Message]:
        """Mail that may be a lead: from outside, not machine-sent, opening a thread of its own, the
        sender's first message, received since ``since`` and not yet taken. Intake decides the rest."""

        def run() -> builtins.list[Message]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT m.* FROM messages m
                       WHERE m.workspace = %(ws)s AND m.untrusted AND NOT m.automated AND m.received_at >= %(since)s
                         AND m.in_reply_to IS NULL AND m.thread_id = m.message_id
                         AND lower(m.from_addr) <> lower(m.account)
                         AND NOT EXISTS (SELECT 1 FROM intakes i WHERE i.workspace = m.workspace
                                         AND i.source_ref = 'email:' || m.message_id)
                         AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.workspace = m.workspace
                                         AND lower(p.from_addr) = lower(m.from_addr)
                                         AND (p.received_at, p.id) < (m.received_at, m.id))
                         AND NOT EXISTS (SELECT 1 FROM messages s WHERE s.workspace = m.workspace AND NOT s.untrusted
                                         AND lower(m.from_addr) = ANY(SELECT lower(t) FROM unnest(s.to_addrs) t))
                       ORDER BY m.received_at, m.id LIMIT %(limit)s""",
                    {"ws": workspace, "since": since, "limit": limit},
                ).fetchall()
            return [_message(r) for r in rows]

        return await asyncio.to_thread(run)

    async def _select(self, where: str, params: Sequence[Any]) -> builtins.list[Intake]:
        def run() -> builtins.list[Intake]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(f"SELECT * FROM intakes WHERE {where}".encode(), tuple(params)).fetchall()
            return [_intake(r) for r in rows]

        return await asyncio.to_thread(run)


__all__ = ["DRAFT_KINDS", "Draft", "DraftAuthor", "DraftKind", "Drafts", "Intake", "Intakes"]
