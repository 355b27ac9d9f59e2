"""The learning queue: operator messages waiting for the background learner (``agents.learning``).

A message is queued in the transaction that completes its turn (``queue_learning_in``), once per
intent key, so neither a crash nor a redelivery loses or doubles it. A worker claims a few with a
lease (``SKIP LOCKED``); one that dies mid-way leaves its rows to whoever claims after the lease.
Lease and retry times are the database's own (``now()``), like the reply outbox's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._postgres import Database

MAX_SAID_CHARS = 4_000  # a longer message is learned from its start (a pasted document is not a statement)


@dataclass(frozen=True)
class Learnable:
    """One operator message to learn from, and where to say what was learned."""

    workspace: str
    operator: str
    said: str
    said_at: datetime
    conversation: str | None = None
    intent_key: str | None = None
    delivery: dict[str, Any] | None = None  # the channel's address for the notice; None: the console


@dataclass(frozen=True)
class QueuedLearning:
    id: int
    item: Learnable
    attempts: int  # including the one now starting


def queue_learning_in(conn: psycopg.Connection[Any], item: Learnable) -> None:
    """Queue ``item`` inside the caller's transaction (a redelivered intent is queued once)."""
    conn.execute(
        """INSERT INTO learning_queue (workspace, operator, conversation, intent_key, said, said_at, delivery)
           VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (intent_key) DO NOTHING""",
        (
            item.workspace,
            item.operator,
            item.conversation,
            item.intent_key,
            item.said[:MAX_SAID_CHARS],
            item.said_at,
            Jsonb(item.delivery) if item.delivery is not None else None,
        ),
    )


_CLAIM = """
    UPDATE learning_queue SET status = 'running', attempts = attempts + 1, claimed_until = now() + %(lease)s
    WHERE id IN (
        SELECT id FROM learning_queue
        WHERE (%(workspace)s::text IS NULL OR workspace = %(workspace)s)
          AND ((status = 'pending' AND coalesce(next_attempt_at, now()) <= now())
               OR (status = 'running' AND claimed_until < now()))
        ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED)
    RETURNING *
"""


class LearningQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, item: Learnable) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                queue_learning_in(conn, item)

        await asyncio.to_thread(run)

    async def claim(self, *, limit: int, lease: timedelta, workspace: str | None = None) -> list[QueuedLearning]:
        """Take up to ``limit`` waiting messages, oldest first, of ``workspace`` (None: of every workspace);
        safe with several workers."""

        def run() -> list[QueuedLearning]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(_CLAIM, {"lease": lease, "limit": limit, "workspace": workspace}).fetchall()
            return [_queued(r) for r in sorted(rows, key=lambda r: int(r["id"]))]

        return await asyncio.to_thread(run)

    async def done(self, queued_id: int, *, learned: int) -> None:
        await self._set(
            "status = 'done', finished_at = now(), claimed_until = NULL, learned = %(learned)s",
            queued_id,
            learned=learned,
        )

    async def retry(self, queued_id: int, *, after: timedelta, error: str, count: bool = True) -> None:
        """Back to waiting until ``after`` from now; ``count`` False gives the attempt back (the spend
        cap stopped it: not the message's fault)."""
        attempts = "attempts" if count else "greatest(attempts - 1, 0)"
        await self._set(
            f"status = 'pending', claimed_until = NULL, next_attempt_at = now() + %(after)s, "
            f"last_error = %(error)s, attempts = {attempts}",
            queued_id,
            after=after,
            error=error[:500],
        )

    async def skip(self, queued_id: int, *, reason: str) -> None:
        await self._set(
            "status = 'skipped', finished_at = now(), claimed_until = NULL, last_error = %(error)s",
            queued_id,
            error=reason[:500],
        )

    async def waiting(self, workspace: str) -> int:
        """Messages not yet learned from (waiting, running or retrying)."""

        def run() -> int:
            with self.db.connection() as conn:
                row = conn.execute(
                    "SELECT count(*) FROM learning_queue WHERE workspace = %s AND status IN ('pending', 'running')",
                    (workspace,),
                ).fetchone()
            return int(row[0]) if row else 0

        return await asyncio.to_thread(run)

    async def _set(self, assignments: str, queued_id: int, **params: Any) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    f"UPDATE learning_queue SET {assignments} WHERE id = %(id)s".encode(), {**params, "id": queued_id}
                )

        await asyncio.to_thread(run)


def _queued(row: dict[str, Any]) -> QueuedLearning:
    return QueuedLearning(
        id=int(row["id"]),
        item=Learnable(
            workspace=row["workspace"],
            operator=row["operator"],
            said=row["said"],
            said_at=row["said_at"],
            conversation=row["conversation"],
            intent_key=row["intent_key"],
            delivery=row["delivery"],
        ),
        attempts=int(row["attempts"]),
    )


__all__ = ["Learnable", "LearningQueue", "QueuedLearning", "queue_learning_in"]
