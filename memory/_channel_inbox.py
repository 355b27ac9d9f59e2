"""The channel inbox: chat updates stored before they are acknowledged, marked done once handled,
and pruned ``KEEP_DAYS`` after that."""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg.types.json import Jsonb

from memory._outbox import close_inbox_in
from memory._postgres import Database

KEEP_DAYS = 7  # handled updates are kept this long, then pruned


class ChannelInbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def store(self, channel: str, bot: str, updates: list[tuple[int, dict[str, Any]]]) -> None:
        def run() -> None:
            with self.db.connection() as conn, conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO channel_inbox (channel, bot, update_id, payload) VALUES (%s, %s, %s, %s)
                       ON CONFLICT DO NOTHING""",
                    [(channel, bot, update_id, Jsonb(payload)) for update_id, payload in updates],
                )

        await asyncio.to_thread(run)

    async def pending(self, channel: str, bot: str, *, older_than: float = 0.0) -> list[dict[str, Any]]:
        """Updates stored and not marked done, in order; with ``older_than``, only those received at
        least that many seconds ago (by the database's clock, which stamped them)."""

        def run() -> list[dict[str, Any]]:
            with self.db.connection() as conn:
                conn.execute("DELETE FROM channel_inbox WHERE done_at < now() - %s * interval '1 day'", (KEEP_DAYS,))
                rows = conn.execute(
                    """SELECT payload FROM channel_inbox WHERE channel = %s AND bot = %s AND done_at IS NULL
                       AND received_at <= now() - %s * interval '1 second' ORDER BY update_id""",
                    (channel, bot, older_than),
                ).fetchall()
            return [dict(r[0]) for r in rows]

        return await asyncio.to_thread(run)

    async def done(self, channel: str, bot: str, update_id: int) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                close_inbox_in(conn, (channel, bot, update_id))

        await asyncio.to_thread(run)
