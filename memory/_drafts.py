"""Drafts: the records behind the drafting work surface.

``Drafts`` keeps every version of every draft with the inputs that produced it; a new version of a
thread gets the next number under a per-thread lock, so two writers never collide.

A draft's shown status is derived when it is read: ``sent`` once an e-mail with its recipient,
subject and body left the outbox (whichever path sent it), ``queued`` while it waits in the outbox's
undo window, ``awaiting approval`` while its ``email.send`` approval is pending.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._postgres import Database
from memory.errors import InvalidRecord, NotFound

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
            raise InvalidRecord(f"a draft is one of {', '.join(DRAFT_KINDS)}, not {kind!r}")
        title = " ".join(title.split())[:200]
        if not title or not thread:
            raise InvalidRecord("a draft needs a title")
        if not body.strip():
            raise InvalidRecord("a draft needs a body")
        if len(body) > MAX_DRAFT_CHARS or "\x00" in body + subject:
            raise InvalidRecord(f"a draft is at most {MAX_DRAFT_CHARS:,} characters of text")

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


__all__ = ["DRAFT_KINDS", "Draft", "DraftAuthor", "DraftKind", "Drafts"]
