"""The channel outbox: what a chat channel owes the operator (replies, press outcomes, charts),
queued in the transaction that records the handled message, and taken off in order by a sender.

Its times are the database's own (``now()``), like the rows' ``DEFAULT now()`` stamps, so a retry
time is never compared with a clock it was not written by.

A row is claimed by one worker at a time (``sending_by``); a row whose sender died mid-send is taken
over and counted in ``resent`` (it may have arrived: Telegram and Slack cannot tell us). A row is
marked sent only after the channel accepted every part of it; a failure puts it back with a retry
time, and the conversation's later rows wait behind it, so one chat's replies never overtake.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from memory._liveness import worker_alive
from memory._postgres import Database

InboxRef = tuple[str, str, int]  # (channel, bot, update id) of a channel_inbox row


@dataclass(frozen=True)
class Outgoing:
    """One thing to deliver to a conversation: a reply (and, for a press, what it answers)."""

    conversation: str
    payload: dict[str, Any]
    image: bytes | None = None
    intent_key: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    conversation: str
    payload: dict[str, Any]
    image: bytes | None
    parts_sent: int
    attempts: int  # including the one now starting
    resent: bool  # its previous sender died mid-send: this send may repeat what arrived
    created_at: datetime


def queue_in(conn: psycopg.Connection[Any], workspace: str, items: list[Outgoing], inbox: InboxRef | None) -> None:
    """Queue replies and close the inbox row they answer, inside the caller's transaction."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO channel_outbox (workspace, conversation, intent_key, payload, image)
               VALUES (%s, %s, %s, %s, %s)""",
            [(workspace, o.conversation, o.intent_key, Jsonb(o.payload), o.image) for o in items],
        )
    if inbox is not None:
        close_inbox_in(conn, inbox)


def close_inbox_in(conn: psycopg.Connection[Any], inbox: InboxRef) -> None:
    conn.execute(
        """UPDATE channel_inbox SET done_at = now()
           WHERE channel = %s AND bot = %s AND update_id = %s AND done_at IS NULL""",
        inbox,
    )


class ReplyOutbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def queue(self, workspace: str, items: list[Outgoing], *, inbox: InboxRef | None = None) -> None:
        """Queue replies that answer no claimed message (an error, a refusal, a message too long)."""

        def run() -> None:
            with self.db.connection() as conn:
                queue_in(conn, workspace, items, inbox)

        await asyncio.to_thread(run)

    async def take(self, workspace: str, conversation: str, worker: int) -> OutboxRow | None:
        """The conversation's oldest unsent row, claimed for ``worker`` — or None when there is none,
        it is not due yet, or a live worker is sending it (the later rows wait behind it)."""

        def run() -> OutboxRow | None:
            with self.db.connection() as conn:
                try:
                    row = conn.execute(
                        """SELECT id, payload, image, parts_sent, attempts, next_attempt_at > now(), sending_by,
                                  created_at
                           FROM channel_outbox WHERE workspace = %s AND conversation = %s
                             AND sent_at IS NULL AND given_up_at IS NULL
                           ORDER BY id LIMIT 1 FOR UPDATE NOWAIT""",
                        (workspace, conversation),
                    ).fetchone()
                except psycopg.errors.LockNotAvailable:
                    return None  # another sender is claiming it this instant
                if row is None:
                    return None
                row_id, payload, image, parts, attempts, not_yet, owner, created = row
                if not_yet:
                    return None
                resent = owner is not None and owner != worker
                if resent and worker_alive(conn, owner):
                    return None
                conn.execute(
                    """UPDATE channel_outbox SET sending_by = %s, attempts = attempts + 1,
                              resent = resent + %s WHERE id = %s""",
                    (worker, int(resent), row_id),
                )
            return OutboxRow(
                row_id,
                conversation,
                dict(payload),
                bytes(image) if image else None,
                parts,
                attempts + 1,
                resent,
                created,
            )

        return await asyncio.to_thread(run)

    async def progress(self, row_id: int, parts_sent: int) -> None:
        """A long reply's first parts arrived: a retry starts after them."""
        await self._execute("UPDATE channel_outbox SET parts_sent = %s WHERE id = %s", (parts_sent, row_id))

    async def sent(self, row_id: int) -> None:
        await self._execute(
            "UPDATE channel_outbox SET sent_at = now(), sending_by = NULL, last_error = NULL WHERE id = %s", (row_id,)
        )

    async def retry_later(self, row_id: int, error: str, seconds: float) -> None:
        """Put it back, to be tried again in ``seconds`` (which may be negative in tests: due at once)."""
        await self._execute(
            """UPDATE channel_outbox SET sending_by = NULL, last_error = %s,
                      next_attempt_at = now() + %s * interval '1 second' WHERE id = %s""",
            (error[:500], seconds, row_id),
        )

    async def give_up(self, row_id: int, error: str) -> None:
        """The channel refuses it for good (the chat is gone, the bot was blocked): stop trying."""
        await self._execute(
            "UPDATE channel_outbox SET sending_by = NULL, last_error = %s, given_up_at = now() WHERE id = %s",
            (error[:500], row_id),
        )

    async def due_conversations(self, channel: str, workspace: str) -> list[str]:
        """A workspace's conversations on a channel whose oldest unsent row is due (the longest
        waiting first). Scoped to the workspace: its channel connections (bot tokens) are its own."""

        def run() -> list[str]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT conversation FROM (
                           SELECT DISTINCT ON (conversation) conversation, id, next_attempt_at FROM channel_outbox
                           WHERE sent_at IS NULL AND given_up_at IS NULL AND workspace = %s AND conversation LIKE %s
                           ORDER BY conversation, id) AS head
                       WHERE next_attempt_at <= now() ORDER BY id LIMIT 100""",
                    (workspace, f"{channel}:%"),
                ).fetchall()
            return [r[0] for r in rows]

        return await asyncio.to_thread(run)

    async def unsent(self, workspace: str, conversation: str) -> list[dict[str, Any]]:
        """The payloads still owed to a conversation (for tests and status)."""

        def run() -> list[dict[str, Any]]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT payload FROM channel_outbox WHERE workspace = %s AND conversation = %s
                       AND sent_at IS NULL AND given_up_at IS NULL ORDER BY id""",
                    (workspace, conversation),
                ).fetchall()
            return [dict(r[0]) for r in rows]

        return await asyncio.to_thread(run)

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(sql, params)

        await asyncio.to_thread(run)
