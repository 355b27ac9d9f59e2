"""Conversations: exactly-once claims of intents and the recent transcript (working context)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from memory._learning_queue import Learnable, queue_learning_in
from memory._liveness import Liveness, worker_alive
from memory._outbox import InboxRef, Outgoing, queue_in
from memory._postgres import Database


@dataclass(frozen=True)
class Turn:
    role: Literal["operator", "assistant"]
    text: str
    created_at: datetime


class Conversations:
    """Exactly-once handling of intents and the recent transcript (working context).

    Each process is a worker with a random id and holds a session advisory lock on it for its
    lifetime. A claim records its worker, so a redelivered intent whose worker died mid-turn
    (its lock is gone) is taken over instead of being answered "still working" forever.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.worker = secrets.randbelow(2**31 - 1) + 1
        self._liveness: Liveness | None = None
        self._active: set[str] = set()  # keys this process claimed and is handling now

    def start_liveness(self) -> None:
        """Hold this worker's liveness lock on a connection of its own until ``stop_liveness``
        (taken again by itself after the connection is lost, e.g. by a database restart)."""
        liveness = Liveness(self.db.target.conninfo, self.worker)
        liveness.start()
        self._liveness = liveness

    def stop_liveness(self) -> None:
        if self._liveness is not None:
            self._liveness.stop()
            self._liveness = None

    async def claim(self, key: str, *, workspace: str) -> dict[str, Any] | None:
        """Claim an intent key. Returns None if it is ours to handle, else the reply already given
        (``{}`` while another live worker is still handling it)."""

        def run() -> dict[str, Any] | None:
            with self.db.connection() as conn:
                inserted = conn.execute(
                    """INSERT INTO handled_intents (idempotency_key, workspace, reply, claimed_by)
                       VALUES (%s, %s, 'null', %s) ON CONFLICT DO NOTHING RETURNING 1""",
                    (key, workspace, self.worker),
                ).fetchone()
                if inserted:
                    self._active.add(key)
                    return None
                row = conn.execute(
                    "SELECT reply, claimed_by FROM handled_intents WHERE idempotency_key = %s FOR UPDATE", (key,)
                ).fetchone()
                if row is None:
                    return {}
                reply, owner = row
                if isinstance(reply, dict):
                    return reply
                if key in self._active or (owner != self.worker and owner is not None and self._alive(conn, owner)):
                    return {}  # being handled, here or by a live process
                # its worker died mid-turn, or this process gave up on it when the database went away
                # and could not release it: the redelivery takes the claim over
                conn.execute(
                    "UPDATE handled_intents SET claimed_by = %s, handled_at = now() WHERE idempotency_key = %s",
                    (self.worker, key),
                )
                self._active.add(key)
                return None

        return await asyncio.to_thread(run)

    @staticmethod
    def _alive(conn: psycopg.Connection[Any], worker: int) -> bool:
        return worker_alive(conn, worker)

    async def complete(
        self,
        key: str,
        *,
        workspace: str,
        conversation: str,
        operator_text: str,
        reply: dict[str, Any],
        deliver: list[Outgoing] | None = None,
        inbox: InboxRef | None = None,
        learn: Learnable | None = None,
    ) -> None:
        """Store the reply for a claimed key and log both turns, in one transaction — with, for a
        chat channel, the reply queued in the channel outbox and the inbox row it answers closed, and
        (``learn``) the operator's message queued for the background learner."""

        def run() -> None:
            self._active.discard(key)  # done or failed: either way no longer in hand
            with self.db.connection() as conn:
                conn.execute("UPDATE handled_intents SET reply = %s WHERE idempotency_key = %s", (Jsonb(reply), key))
                conn.execute(
                    """INSERT INTO conversation_turns (workspace, conversation, role, text)
                       VALUES (%s, %s, 'operator', %s), (%s, %s, 'assistant', %s)""",
                    (workspace, conversation, operator_text, workspace, conversation, reply.get("text", "")),
                )
                queue_in(conn, workspace, deliver or [], inbox)
                if learn is not None:
                    queue_learning_in(conn, learn)

        await asyncio.to_thread(run)

    async def release(self, key: str) -> None:
        """Give up a claim after a failure, so a redelivery can try again."""

        def run() -> None:
            self._active.discard(key)
            with self.db.connection() as conn:
                conn.execute("DELETE FROM handled_intents WHERE idempotency_key = %s AND reply = 'null'", (key,))

        await asyncio.to_thread(run)

    async def recent(self, *, workspace: str, conversation: str, limit: int = 20) -> list[Turn]:
        def run() -> list[Turn]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT role, text, created_at FROM conversation_turns
                       WHERE workspace = %s AND conversation = %s ORDER BY id DESC LIMIT %s""",
                    (workspace, conversation, limit),
                ).fetchall()
            return [Turn(r[0], r[1], r[2]) for r in reversed(rows)]

        return await asyncio.to_thread(run)
