"""Intakes (leads): the records behind the intake work surface.

``Intakes`` keeps one row per lead, keyed by the message it came from, and the steps taken for it;
a lead left unfinished by a worker that died is taken over after ``STALE_CLAIM``.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from psycopg.rows import dict_row

from memory._mail import Message, _message
from memory._postgres import Database
from memory.errors import NotFound


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
        if self.replied_at is None:
            return None
        # as instants: two datetimes with the same zone subtract as wall times, an hour off on DST nights
        return self.replied_at.astimezone(UTC) - self.first_seen_at.astimezone(UTC)


def _intake(row: dict[str, Any]) -> Intake:
    return Intake(**{name: row[name] for name in Intake.__dataclass_fields__})


_STEPS = frozenset({"contact_id", "memory_id", "draft_id", "approval_id", "task_id"})
STALE_CLAIM = timedelta(minutes=5)  # a lead claimed this long ago and not done: its worker died

# The first e-mail sent to a lead's address after it arrived (outbox rows reach 'sent' once delivered).
# "After" on one clock, the database's: ``first_seen_at`` is the mail server's, which may run ahead.
_REPLIED = """
    UPDATE intakes i SET replied_at = r.sent_at FROM (
        SELECT i2.id, min(o.sent_at) AS sent_at FROM intakes i2 JOIN outbox o
          ON o.workspace = i2.workspace AND lower(o.recipient) = lower(i2.email)
         AND o.status = 'sent' AND o.created_at >= least(i2.first_seen_at, i2.claimed_at)
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


__all__ = ["Intake", "Intakes"]
