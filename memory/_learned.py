"""What SoloOS learned from conversation, and the working memory it is learned from.

Learned facts are ordinary rows of ``memories`` whose ``source`` says how they were learned
(``learned``: extracted from an operator turn, ``told``: the coordinator's remember/correct tool,
``consolidated``: working memory compacted on a schedule) and whose ``metadata`` carries the message
they came from (``said``, ``said_at``, ``conversation``, ``by``). This module reads them for review
(the briefing, ``/memory learned``), marks one kept, and keeps the transcript bounded: operator turns
waiting for consolidation, marking them consolidated, pruning what no longer needs to be kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._memory_service import _COLUMNS, _CURRENT, MemoryService, _item
from memory._memory_types import MemoryItem

LEARNED_SOURCES = ("learned", "told", "consolidated")
UNDO_FORGET_WITHIN = timedelta(days=30)  # how long /undo can bring back a fact forgotten with its button


@dataclass(frozen=True)
class LearnedFact:
    """A learned memory with what it replaced (the text of the fact it superseded, if any)."""

    item: MemoryItem
    replaced: str | None = None

    @property
    def said(self) -> str:
        return str(self.item.metadata.get("said") or "")

    @property
    def kept(self) -> bool:
        return bool(self.item.metadata.get("kept"))


@dataclass(frozen=True)
class PendingTurn:
    """Something the operator said, not consolidated yet: a transcript turn (``id`` its number) or a
    working-layer memory of theirs that is about to expire (``id`` its UUID)."""

    id: int | UUID
    workspace: str
    conversation: str
    text: str
    created_at: datetime
    learned: bool = False  # the learning engine took facts from it already (when it was said)


# The newest older fact on the same subject that this one superseded (what it replaced).
_REPLACED = """(SELECT o.text FROM memories o WHERE o.workspace = m.workspace AND o.subject = m.subject
                AND o.id <> m.id AND (o.occurred_at, o.created_at) < (m.occurred_at, m.created_at)
                AND (m.confirmed OR NOT o.confirmed)
                ORDER BY o.occurred_at DESC, o.created_at DESC LIMIT 1) AS replaced"""


class LearnedFacts:
    """Reads and marks learned facts; keeps the transcript bounded. Built on a ``MemoryService``."""

    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory
        self.db = memory.db
        self.clock = memory.clock

    # -- review ---------------------------------------------------------------------------------

    async def since(self, workspace: str, since: datetime | None, *, limit: int) -> tuple[list[LearnedFact], int]:
        """Current learned facts created after ``since`` (all when None), newest first, at most
        ``limit``; and how many there are in all."""

        def run() -> tuple[list[LearnedFact], int]:
            params: dict[str, Any] = {
                "ws": workspace,
                "since": since,
                "sources": list(LEARNED_SOURCES),
                "limit": limit,
                "now": self.clock.now(),
            }
            scope = f"""m.workspace = %(ws)s AND m.source = ANY(%(sources)s)
                        AND (%(since)s::timestamptz IS NULL OR m.created_at > %(since)s) AND {_CURRENT}"""
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    f"""SELECT {_COLUMNS}, {_REPLACED} FROM memories m WHERE {scope}
                        ORDER BY m.created_at DESC, m.id LIMIT %(limit)s""",
                    params,
                ).fetchall()
                total = cur.execute(f"SELECT count(*) AS n FROM memories m WHERE {scope}", params).fetchone()
            facts = [LearnedFact(_item(row), row["replaced"]) for row in rows]
            return facts, int(total["n"]) if total else 0

        return await asyncio.to_thread(run)

    async def last_briefing_at(self, workspace: str) -> datetime | None:
        """When the last daily briefing was delivered (None: never)."""

        def run() -> datetime | None:
            with self.db.connection() as conn:
                row = conn.execute(
                    """SELECT max(d.sent_at) FROM deliveries d JOIN schedules s ON s.id = d.schedule_id
                       WHERE d.workspace = %s AND s.kind = 'briefing' AND d.delivery_status = 'sent'""",
                    (workspace,),
                ).fetchone()
            return row[0] if row else None

        return await asyncio.to_thread(run)

    async def keep(self, memory_id: str | UUID, *, workspace: str) -> tuple[MemoryItem, bool]:
        """Mark a fact kept (``metadata.kept``) and confirmed; the undo handle ``{"kind": "memory.unkeep",
        "id": …}`` takes both back. Returns it and whether it was kept before.
        ``NotFound`` when the workspace has no such memory (gone, or another workspace's)."""
        item = await self.memory.get(memory_id, workspace=workspace)
        if item.metadata.get("kept"):
            return item, True

        def run() -> bool:
            kept = {"kept": True, "kept_at": self.clock.now().isoformat(), "kept_was_confirmed": item.confirmed}
            with self.db.connection() as conn:
                cur = conn.execute(
                    """UPDATE memories SET confirmed = true,
                       payload = jsonb_set(payload, '{metadata}', coalesce(payload->'metadata', '{}'::jsonb) || %s)
                       WHERE id = %s AND workspace = %s AND coalesce(payload->'metadata'->>'kept', '') <> 'true'""",
                    (Jsonb(kept), item.id, workspace),
                )
                return cur.rowcount == 0  # a concurrent press kept it first

        before = await asyncio.to_thread(run)
        return item, before

    async def forget(self, memory_id: UUID, *, workspace: str) -> bool:
        """Delete one memory of the workspace, keeping a copy that the undo handle
        ``{"kind": "memory.restore", "id": …}`` brings back; False when it was gone already."""

        def run() -> bool:
            with self.db.connection() as conn:
                conn.execute(
                    """INSERT INTO forgotten_memories (id, workspace, row, forgotten_at)
                       SELECT m.id, m.workspace, to_jsonb(m) - 'tsv', %s FROM memories m
                       WHERE m.id = %s AND m.workspace = %s
                       ON CONFLICT (id) DO UPDATE SET row = excluded.row, forgotten_at = excluded.forgotten_at""",
                    (self.clock.now(), memory_id, workspace),
                )
                cur = conn.execute("DELETE FROM memories WHERE id = %s AND workspace = %s", (memory_id, workspace))
                return cur.rowcount == 1

        return await asyncio.to_thread(run)

    async def current_on(self, workspace: str, subject: str) -> MemoryItem | None:
        """The fact that holds now on ``subject`` (after a newer one was forgotten: the older one again)."""

        def run() -> MemoryItem | None:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    f"""SELECT {_COLUMNS} FROM memories m WHERE m.workspace = %(ws)s AND m.subject = %(subject)s
                        AND m.layer <> 'working' AND {_CURRENT}
                        ORDER BY m.confirmed DESC, m.occurred_at DESC LIMIT 1""",
                    {"ws": workspace, "subject": subject, "now": self.clock.now()},
                ).fetchone()
            return _item(row) if row else None

        return await asyncio.to_thread(run)

    async def audited_text(self, workspace: str, action_type: str, short_id: str) -> str | None:
        """The outcome of the latest audit event of ``action_type`` naming ``[short_id]`` (what a
        forgotten fact said), or None."""

        def run() -> str | None:
            with self.db.connection() as conn:
                row = conn.execute(
                    """SELECT outcome FROM audit_events WHERE workspace = %s AND action_type = %s
                       AND outcome LIKE %s ORDER BY id DESC LIMIT 1""",
                    (workspace, action_type, f"%[{short_id}]"),
                ).fetchone()
            return str(row[0]) if row and row[0] else None

        return await asyncio.to_thread(run)

    # -- working memory -------------------------------------------------------------------------

    async def pending_turns(self, workspace: str, *, before: datetime, limit: int) -> list[PendingTurn]:
        """The operator's own turns older than ``before`` not consolidated yet, oldest first."""

        def run() -> list[PendingTurn]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT t.id, t.workspace, t.conversation, t.text, t.created_at, EXISTS (
                                  SELECT 1 FROM memories m WHERE m.workspace = t.workspace AND m.source = 'learned'
                                  AND m.payload->'metadata'->>'said' = left(t.text, 500)) AS learned
                       FROM conversation_turns t
                       WHERE t.workspace = %s AND t.role = 'operator' AND t.consolidated_at IS NULL
                         AND t.created_at < %s
                       ORDER BY t.id LIMIT %s""",
                    (workspace, before, limit),
                ).fetchall()
            return [PendingTurn(**row) for row in rows]

        return await asyncio.to_thread(run)

    async def pending_working(self, workspace: str, *, expiring_before: datetime, limit: int) -> list[PendingTurn]:
        """The operator's working-layer memories that expire before ``expiring_before`` (the next run)
        and were not consolidated yet, oldest first."""

        def run() -> list[PendingTurn]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT id, workspace, coalesce(payload->'metadata'->>'conversation', '') AS conversation,
                              text, occurred_at AS created_at FROM memories
                       WHERE workspace = %s AND layer = 'working' AND origin = 'operator' AND expires_at < %s
                         AND NOT (payload->'metadata' ? 'consolidated_at')
                       ORDER BY occurred_at, id LIMIT %s""",
                    (workspace, expiring_before, limit),
                ).fetchall()
            return [PendingTurn(**row) for row in rows]

        return await asyncio.to_thread(run)

    async def mark_consolidated(self, turn_id: int | UUID) -> None:
        def run() -> None:
            now = self.clock.now()
            with self.db.connection() as conn:
                if isinstance(turn_id, UUID):
                    conn.execute(
                        """UPDATE memories SET payload = jsonb_set(payload, '{metadata}',
                               coalesce(payload->'metadata', '{}'::jsonb) || %s) WHERE id = %s""",
                        (Jsonb({"consolidated_at": now.isoformat()}), turn_id),
                    )
                    return
                conn.execute(
                    "UPDATE conversation_turns SET consolidated_at = %s WHERE id = %s AND consolidated_at IS NULL",
                    (now, turn_id),
                )

        await asyncio.to_thread(run)

    async def prune(self, workspace: str, *, before: datetime, keep_recent: int, keep_at_most: int) -> int:
        """Drop transcript turns no longer needed: never an operator turn not yet consolidated, never
        one of a conversation's latest ``keep_recent``; the rest once older than ``before`` or beyond
        the latest ``keep_at_most`` of their conversation. Expired working memories go too (the
        operator's once consolidated)."""

        def run() -> int:
            with self.db.connection() as conn:
                turns = conn.execute(
                    """WITH ranked AS (
                           SELECT id, role, consolidated_at, created_at,
                                  row_number() OVER (PARTITION BY conversation ORDER BY id DESC) AS n
                           FROM conversation_turns WHERE workspace = %(ws)s)
                       DELETE FROM conversation_turns t USING ranked r
                       WHERE t.id = r.id AND r.n > %(recent)s
                         AND (r.role = 'assistant' OR r.consolidated_at IS NOT NULL)
                         AND (r.created_at < %(before)s OR r.n > %(most)s)""",
                    {"ws": workspace, "recent": keep_recent, "most": keep_at_most, "before": before},
                ).rowcount
                working = conn.execute(
                    """DELETE FROM memories WHERE workspace = %s AND layer = 'working' AND expires_at <= %s
                       AND (origin <> 'operator' OR payload->'metadata' ? 'consolidated_at')""",
                    (workspace, self.clock.now()),
                ).rowcount
                conn.execute(  # too old to undo: the forgotten stay forgotten
                    "DELETE FROM forgotten_memories WHERE workspace = %s AND forgotten_at < %s",
                    (workspace, self.clock.now() - UNDO_FORGET_WITHIN),
                )
            return turns + working

        return await asyncio.to_thread(run)


__all__ = ["LEARNED_SOURCES", "LearnedFact", "LearnedFacts", "PendingTurn"]
