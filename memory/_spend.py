"""The spend ledger (what each model call cost, by agent and tier), the reservations that keep the
spend caps under concurrency, and the model response cache.

A model request first ``reserve_sync``s its estimated cost: under a per-workspace advisory lock, the
spend so far plus the open reservations must be below each cap, and then the reservation is written
in the same transaction. After the request, ``settle_sync`` replaces the reservation with the ledger
row of the real cost; a failed request ``release_sync``es it. However many turns run at once, in one
process or several, each sees the others' reservations, so together they pass a cap by at most one
request's estimate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from memory._postgres import Database
from memory.clock import Clock

RESERVATION_TTL = timedelta(minutes=15)  # longer than any request; then a dead process's reservation lapses
_LOCK = "soloos-spend:"  # advisory lock key prefix, per workspace


@dataclass(frozen=True)
class CapReached:
    """A reservation that was refused: ``period`` ('daily' or 'monthly') is at or over its cap."""

    period: str
    spent: Decimal  # settled spend plus open reservations in that period
    cap: Decimal


@dataclass(frozen=True)
class SpendLine:
    agent: str
    tier: str
    requests: int
    cost: Decimal
    cached: int


@dataclass(frozen=True)
class SpendSummary:
    today: Decimal
    month: Decimal
    lines: tuple[SpendLine, ...]  # this month, by agent and tier


class SpendLedger:
    """What the models cost: one ledger row per model call."""

    db: Database
    clock: Clock

    def spent_sync(self, workspace: str, now: datetime | None = None) -> tuple[Decimal, Decimal]:
        """Spend today and this month (UTC calendar), read in one statement."""
        now = now or self.clock.now()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        with self.db.connection() as conn:
            row = conn.execute(
                """SELECT coalesce(sum(cost) FILTER (WHERE created_at >= %s), 0),
                          coalesce(sum(cost) FILTER (WHERE created_at >= %s), 0)
                   FROM spend_ledger WHERE workspace = %s AND created_at >= %s""",
                (day, month, workspace, month),
            ).fetchone()
        assert row is not None
        return Decimal(row[0]), Decimal(row[1])

    def reserve_sync(self, workspace: str, estimate: Decimal, *, daily: Decimal, monthly: Decimal) -> int | CapReached:
        """Reserve ``estimate`` against the caps: the reservation's id, or the cap that is reached."""
        now = self.clock.now()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_LOCK + workspace,))
            row = conn.execute(
                """SELECT (SELECT coalesce(sum(cost) FILTER (WHERE created_at >= %(day)s), 0)
                           FROM spend_ledger WHERE workspace = %(ws)s AND created_at >= %(month)s)
                        + (SELECT coalesce(sum(estimate) FILTER (WHERE created_at >= %(day)s), 0)
                           FROM spend_reservations WHERE workspace = %(ws)s AND created_at > %(lapsed)s),
                          (SELECT coalesce(sum(cost), 0)
                           FROM spend_ledger WHERE workspace = %(ws)s AND created_at >= %(month)s)
                        + (SELECT coalesce(sum(estimate) FILTER (WHERE created_at >= %(month)s), 0)
                           FROM spend_reservations WHERE workspace = %(ws)s AND created_at > %(lapsed)s)""",
                {"ws": workspace, "day": day, "month": month, "lapsed": now - RESERVATION_TTL},
            ).fetchone()
            assert row is not None
            today, this_month = Decimal(row[0]), Decimal(row[1])
            if today >= daily:
                return CapReached("daily", today, daily)
            if this_month >= monthly:
                return CapReached("monthly", this_month, monthly)
            reserved = conn.execute(
                "INSERT INTO spend_reservations (workspace, estimate, created_at) VALUES (%s, %s, %s) RETURNING id",
                (workspace, estimate, now),
            ).fetchone()
        assert reserved is not None
        return int(reserved[0])

    def release_sync(self, reservation: int) -> None:
        """The request did not happen (or failed): its reservation stops counting."""
        with self.db.connection() as conn:
            conn.execute("DELETE FROM spend_reservations WHERE id = %s", (reservation,))

    def settle_sync(
        self,
        reservation: int,
        *,
        workspace: str,
        agent: str,
        tier: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost: Decimal,
    ) -> None:
        """Replace the reservation by the ledger row of what the request really cost, in one transaction."""
        with self.db.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM spend_reservations WHERE id = %s", (reservation,))
            self._insert(conn, workspace, agent, tier, model, input_tokens, output_tokens, cost, cached=False)

    def _insert(
        self,
        conn: Any,
        workspace: str,
        agent: str,
        tier: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost: Decimal,
        *,
        cached: bool,
    ) -> None:
        conn.execute(
            """INSERT INTO spend_ledger (workspace, agent, tier, model, input_tokens, output_tokens, cost, cached,
                                         created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (workspace, agent, tier, model, input_tokens, output_tokens, cost, cached, self.clock.now()),
        )

    def record_sync(
        self,
        *,
        workspace: str,
        agent: str,
        tier: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost: Decimal,
        cached: bool,
    ) -> None:
        with self.db.connection() as conn:
            self._insert(conn, workspace, agent, tier, model, input_tokens, output_tokens, cost, cached=cached)

    async def spend_summary(self, workspace: str) -> SpendSummary:
        def run() -> SpendSummary:
            today, month = self.spent_sync(workspace)
            start = self.clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT agent, tier, count(*), coalesce(sum(cost), 0), count(*) FILTER (WHERE cached)
                       FROM spend_ledger WHERE workspace = %s AND created_at >= %s
                       GROUP BY agent, tier ORDER BY sum(cost) DESC, agent""",
                    (workspace, start),
                ).fetchall()
            lines = tuple(SpendLine(r[0], r[1], int(r[2]), Decimal(r[3]), int(r[4])) for r in rows)
            return SpendSummary(today, month, lines)

        return await asyncio.to_thread(run)

    async def spend_per_day(self, workspace: str, *, since: datetime, timezone: str) -> dict[date, Decimal]:
        def run() -> dict[date, Decimal]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT (created_at AT TIME ZONE %s)::date, sum(cost) FROM spend_ledger
                       WHERE workspace = %s AND created_at >= %s GROUP BY 1""",
                    (timezone, workspace, since),
                ).fetchall()
            return {r[0]: Decimal(r[1]) for r in rows}

        return await asyncio.to_thread(run)


class ModelCache:
    """Model responses stored by request key; the first response stored for a key is kept."""

    db: Database

    def cache_get_sync(self, key: str) -> Any | None:
        with self.db.connection() as conn:
            row = conn.execute("SELECT response FROM model_cache WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def cache_put_sync(self, key: str, response: Any) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO model_cache (key, response) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, Jsonb(response)),
            )
