"""Reliability figures from the records themselves: the delivery log, approvals and the spend
ledger. Nothing is sampled or kept in process memory, so every replica reports the same numbers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from memory._postgres import Database
from memory.clock import Clock

ON_TIME = timedelta(minutes=5)  # a briefing sent within this of its time is on time
STUCK_AFTER = timedelta(minutes=10)  # an approved action not carried out by then is stuck


@dataclass(frozen=True)
class Ratio:
    good: int
    total: int

    @property
    def share(self) -> float | None:
        return self.good / self.total if self.total else None


@dataclass(frozen=True)
class Reliability:
    briefings_on_time: Ratio
    reminders_delivered: Ratio
    approvals_clean: Ratio  # resolved (executed, denied, expired) or still validly pending
    budget_overshoot_days: int
    approval_minutes_median: float | None  # time to decision


class ReliabilityStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def figures(self, workspace: str, *, since: datetime, daily_cap: Decimal) -> Reliability:
        def run() -> Reliability:
            with self.db.connection() as conn:
                deliveries = conn.execute(
                    """SELECT s.kind,
                              count(*) FILTER (WHERE d.delivery_status = 'sent' AND d.sent_at - d.fire_at <= %s),
                              count(*) FILTER (WHERE d.delivery_status = 'sent'),
                              count(*)
                       FROM deliveries d JOIN schedules s ON s.id = d.schedule_id
                       WHERE d.workspace = %s AND d.fire_at >= %s AND d.fire_at <= %s
                       GROUP BY s.kind""",
                    (ON_TIME, workspace, since, self.clock.now()),
                ).fetchall()
                approvals = conn.execute(
                    """SELECT count(*) FILTER (WHERE status IN ('executed', 'denied', 'expired')
                                                 OR (status = 'pending' AND expires_at > now())
                                                 OR (status = 'approved' AND decided_at > now() - %s)),
                              count(*),
                              percentile_cont(0.5) WITHIN GROUP (
                                  ORDER BY extract(epoch FROM decided_at - requested_at) / 60)
                                  FILTER (WHERE decided_at IS NOT NULL)
                       FROM approvals WHERE workspace = %s AND requested_at >= %s""",
                    (STUCK_AFTER, workspace, since),
                ).fetchone()
                overshoot = conn.execute(
                    """SELECT count(*) FROM (SELECT date_trunc('day', created_at) AS day FROM spend_ledger
                                             WHERE workspace = %s AND created_at >= %s
                                             GROUP BY 1 HAVING sum(cost) > %s) AS days""",
                    (workspace, since, daily_cap),
                ).fetchone()
            by_kind = {kind: (on_time, sent, total) for kind, on_time, sent, total in deliveries}
            briefing = by_kind.get("briefing", (0, 0, 0))
            reminder = by_kind.get("reminder", (0, 0, 0))
            assert approvals is not None and overshoot is not None
            return Reliability(
                briefings_on_time=Ratio(briefing[0], briefing[2]),
                reminders_delivered=Ratio(reminder[1], reminder[2]),
                approvals_clean=Ratio(int(approvals[0]), int(approvals[1])),
                budget_overshoot_days=int(overshoot[0]),
                approval_minutes_median=float(approvals[2]) if approvals[2] is not None else None,
            )

        return await asyncio.to_thread(run)
