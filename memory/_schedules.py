"""Scheduled messages (reminders, the daily briefing, notices) and the delivery log that proves each one.

Every change to a schedule sends ``NOTIFY soloos_schedules`` in the same transaction, so the
process that holds the scheduler plans or drops the job at once, whichever process made the change.
The delivery log's key (schedule, fire time) is what makes a delivery at-most-once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg.rows import dict_row

from memory._postgres import Database
from memory.clock import Clock
from memory.errors import InvalidRecord, NotFound

NOTIFY_CHANNEL = "soloos_schedules"
MAX_BODY_CHARS = 1000
NOTICE_ROUTE_WITHIN = timedelta(days=14)  # a notice with no conversation goes where the operator talked lately

ScheduleKind = Literal["reminder", "briefing", "notice"]


@dataclass(frozen=True)
class Schedule:
    id: int
    workspace: str
    operator: str
    kind: ScheduleKind
    body: str
    conversation: str
    timezone: str
    crontab: str | None  # recurring rule; None for a one-shot reminder
    fire_at: datetime | None  # one-shot fire time
    status: str
    created_at: datetime

    @property
    def recurring(self) -> bool:
        return self.crontab is not None


@dataclass(frozen=True)
class Delivery:
    id: int
    schedule_id: int
    fire_at: datetime
    workspace: str
    job_status: str  # running | ran | missed | failed
    delivery_status: str  # pending | sending | sent | retrying | failed | uncertain | none
    body: str
    attempts: int
    last_error: str | None
    channel: str | None
    sent_at: datetime | None
    conversation: str  # the schedule's conversation
    kind: ScheduleKind
    next_attempt_at: datetime | None = None  # when a retry was planned


def _schedule(row: dict[str, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        workspace=row["workspace"],
        operator=row["operator"],
        kind=row["kind"],
        body=row["body"],
        conversation=row["conversation"],
        timezone=row["timezone"],
        crontab=row["crontab"],
        fire_at=row["fire_at"],
        status=row["status"],
        created_at=row["created_at"],
    )


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        schedule_id=row["schedule_id"],
        fire_at=row["fire_at"],
        workspace=row["workspace"],
        job_status=row["job_status"],
        delivery_status=row["delivery_status"],
        body=row["body"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        channel=row["channel"],
        sent_at=row["sent_at"],
        conversation=row["conversation"],
        kind=row["kind"],
        next_attempt_at=row.get("next_attempt_at"),
    )


_DELIVERY = """SELECT d.*, s.conversation, s.kind FROM deliveries d JOIN schedules s ON s.id = d.schedule_id"""


class Schedules:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- schedules ------------------------------------------------------------------------------

    async def create(
        self,
        *,
        workspace: str,
        operator: str,
        kind: ScheduleKind,
        body: str,
        conversation: str,
        timezone: str,
        crontab: str | None = None,
        fire_at: datetime | None = None,
    ) -> Schedule:
        body = " ".join(body.split()) if kind == "reminder" else body.strip()  # a notice keeps its lines
        if kind == "reminder" and not body:
            raise InvalidRecord("a reminder needs something to remind you of")
        if len(body) > MAX_BODY_CHARS:
            raise InvalidRecord(f"a reminder is at most {MAX_BODY_CHARS} characters")
        if (crontab is None) == (fire_at is None):
            raise InvalidRecord("a schedule has either a recurring rule or one fire time")

        def run() -> Schedule:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                if kind == "briefing":  # one daily briefing per operator: the new time replaces the old
                    for old in cur.execute(
                        """UPDATE schedules SET status = 'cancelled' WHERE workspace = %s AND operator = %s
                           AND kind = 'briefing' AND status = 'active' RETURNING id""",
                        (workspace, operator),
                    ).fetchall():
                        cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(old["id"])))
                row = cur.execute(
                    """INSERT INTO schedules (workspace, operator, kind, body, conversation, timezone, crontab, fire_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
                    (workspace, operator, kind, body, conversation, timezone, crontab, fire_at),
                ).fetchone()
                assert row is not None
                cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(row["id"])))
            return _schedule(row)

        return await asyncio.to_thread(run)

    def get_sync(self, schedule_id: int) -> Schedule | None:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM schedules WHERE id = %s", (schedule_id,)).fetchone()
        return _schedule(row) if row else None

    async def get(self, schedule_id: int, *, workspace: str) -> Schedule:
        found = await asyncio.to_thread(self.get_sync, schedule_id)
        if found is None or found.workspace != workspace:
            raise NotFound(f"there is no reminder #{schedule_id}")
        return found

    def active_sync(self, *, workspace: str | None = None) -> list[Schedule]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                """SELECT * FROM schedules WHERE status = 'active' AND (%(ws)s::text IS NULL OR workspace = %(ws)s)
                   ORDER BY kind DESC, coalesce(fire_at, created_at), id""",
                {"ws": workspace},
            ).fetchall()
        return [_schedule(r) for r in rows]

    async def active(self, *, workspace: str) -> list[Schedule]:
        return await asyncio.to_thread(self.active_sync, workspace=workspace)

    async def briefing(self, *, workspace: str, operator: str) -> Schedule | None:
        found = [s for s in await self.active(workspace=workspace) if s.kind == "briefing" and s.operator == operator]
        return found[0] if found else None

    async def set_status(self, schedule_id: int, status: str, *, workspace: str) -> Schedule:
        def run() -> Schedule:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "UPDATE schedules SET status = %s WHERE id = %s AND workspace = %s RETURNING *",
                    (status, schedule_id, workspace),
                ).fetchone()
                if row is None:
                    raise NotFound(f"there is no reminder #{schedule_id}")
                cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(schedule_id)))
            return _schedule(row)

        return await asyncio.to_thread(run)

    async def reschedule(self, schedule_id: int, fire_at: datetime, *, workspace: str) -> Schedule:
        """A one-shot reminder's new fire time (snooze); it becomes active again."""

        def run() -> Schedule:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """UPDATE schedules SET fire_at = %s, status = 'active'
                       WHERE id = %s AND workspace = %s AND crontab IS NULL RETURNING *""",
                    (fire_at, schedule_id, workspace),
                ).fetchone()
                if row is None:
                    raise NotFound(f"there is no one-off reminder #{schedule_id}")
                cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(schedule_id)))
            return _schedule(row)

        return await asyncio.to_thread(run)

    async def move_recurring(self, *, workspace: str, operator: str, timezone: str) -> int:
        """Recurring schedules keep their wall-clock time in the operator's new time zone."""

        def run() -> int:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """UPDATE schedules SET timezone = %s WHERE workspace = %s AND operator = %s
                       AND status = 'active' AND crontab IS NOT NULL RETURNING id""",
                    (timezone, workspace, operator),
                ).fetchall()
                for (schedule_id,) in rows:
                    conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(schedule_id)))
            return len(rows)

        return await asyncio.to_thread(run)

    def finish_sync(self, schedule_id: int) -> None:
        """A one-shot reminder that has fired (or was missed) is done."""
        with self.db.connection() as conn:
            conn.execute("UPDATE schedules SET status = 'done' WHERE id = %s AND crontab IS NULL", (schedule_id,))

    # -- the delivery log -----------------------------------------------------------------------

    def claim_sync(self, schedule: Schedule, fire_at: datetime, *, missed: bool = False) -> int | None:
        """Start the run for (schedule, fire time), or None when it was handled before (by this process
        before a restart, or by another replica)."""
        job_status, delivery_status = ("missed", "none") if missed else ("running", "sending")
        with self.db.connection() as conn:
            row = conn.execute(
                """INSERT INTO deliveries (schedule_id, fire_at, workspace, job_status, delivery_status, body, attempts)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (schedule_id, fire_at) DO NOTHING RETURNING id""",
                (
                    schedule.id,
                    fire_at,
                    schedule.workspace,
                    job_status,
                    delivery_status,
                    schedule.body,
                    0 if missed else 1,
                ),
            ).fetchone()
        return int(row[0]) if row else None

    def last_fire_sync(self, schedule_id: int) -> datetime | None:
        with self.db.connection() as conn:
            row = conn.execute("SELECT max(fire_at) FROM deliveries WHERE schedule_id = %s", (schedule_id,)).fetchone()
        return row[0] if row else None

    def job_failed_sync(self, delivery_id: int, error: str) -> None:
        with self.db.connection() as conn:
            conn.execute(
                """UPDATE deliveries SET job_status = 'failed', delivery_status = 'none', last_error = %s
                   WHERE id = %s""",
                (error[:500], delivery_id),
            )

    def sending_sync(self, delivery_id: int, body: str) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE deliveries SET job_status = 'ran', body = %s WHERE id = %s", (body[:20000], delivery_id)
            )

    def sent_sync(self, delivery_id: int, channel: str, now: datetime) -> None:
        with self.db.connection() as conn:
            conn.execute(
                """UPDATE deliveries SET delivery_status = 'sent', channel = %s, sent_at = %s, last_error = NULL,
                   next_attempt_at = NULL WHERE id = %s""",
                (channel, now, delivery_id),
            )

    def retry_later_sync(self, delivery_id: int, error: str, at: datetime) -> None:
        with self.db.connection() as conn:
            conn.execute(
                """UPDATE deliveries SET delivery_status = 'retrying', last_error = %s, next_attempt_at = %s
                   WHERE id = %s""",
                (error[:500], at, delivery_id),
            )

    def failed_sync(self, delivery_id: int, error: str) -> None:
        with self.db.connection() as conn:
            conn.execute(
                """UPDATE deliveries SET delivery_status = 'failed', last_error = %s, next_attempt_at = NULL
                   WHERE id = %s""",
                (error[:500], delivery_id),
            )

    def take_retries_sync(self, now: datetime, channel: str, limit: int = 50) -> list[Delivery]:
        """Deliveries to ``channel`` whose retry is due, moved to 'sending' so no other sweep takes them."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            ids = [
                r["id"]
                for r in cur.execute(
                    """UPDATE deliveries SET delivery_status = 'sending', attempts = attempts + 1, started_at = %s
                       WHERE id IN (SELECT d.id FROM deliveries d JOIN schedules s ON s.id = d.schedule_id
                                    WHERE d.delivery_status = 'retrying' AND d.next_attempt_at <= %s
                                    AND s.conversation LIKE %s ORDER BY d.next_attempt_at LIMIT %s
                                    FOR UPDATE OF d SKIP LOCKED)
                       RETURNING id""",
                    (now, now, f"{channel}:%", limit),
                ).fetchall()
            ]
            rows = cur.execute(_DELIVERY + " WHERE d.id = ANY(%s) ORDER BY d.fire_at", (ids,)).fetchall()
        return [_delivery(r) for r in rows]

    def orphaned_sync(self, older_than: datetime, channel: str) -> int:
        """Sends interrupted by a crash: we cannot know whether they arrived, so they are not sent again
        (at most once) but marked uncertain, and the operator is told at the next contact."""
        with self.db.connection() as conn:
            cur = conn.execute(
                """UPDATE deliveries d SET delivery_status = 'uncertain', job_status = 'ran',
                   last_error = 'the process stopped while sending'
                   FROM schedules s WHERE s.id = d.schedule_id AND s.conversation LIKE %s
                   AND d.delivery_status = 'sending' AND d.started_at < %s""",
                (f"{channel}:%", older_than),
            )
            return cur.rowcount

    def unreported_sync(self, workspace: str) -> list[Delivery]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                _DELIVERY
                + """ WHERE d.workspace = %s AND d.reported_at IS NULL
                      AND (d.job_status IN ('missed', 'failed') OR d.delivery_status IN ('failed', 'uncertain'))
                      ORDER BY d.fire_at""",
                (workspace,),
            ).fetchall()
        return [_delivery(r) for r in rows]

    def mark_reported_sync(self, ids: list[int], now: datetime) -> None:
        with self.db.connection() as conn:
            conn.execute("UPDATE deliveries SET reported_at = %s WHERE id = ANY(%s)", (now, ids))

    async def mark_reported(self, ids: list[int]) -> None:
        await asyncio.to_thread(self.mark_reported_sync, ids, self.clock.now())

    async def deliveries(self, *, workspace: str, since: datetime | None = None) -> list[Delivery]:
        def run() -> list[Delivery]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    _DELIVERY + " WHERE d.workspace = %s AND (%s::timestamptz IS NULL OR d.fire_at >= %s)"
                    " ORDER BY d.fire_at, d.id",
                    (workspace, since, since),
                ).fetchall()
            return [_delivery(r) for r in rows]

        return await asyncio.to_thread(run)

    async def notice(
        self,
        *,
        workspace: str,
        operator: str,
        body: str,
        timezone: str,
        conversation: str | None = None,
        more: str = "",
    ) -> Schedule:
        """Tell the operator something now, through the delivery log (so it is retried, and reported
        if it never arrives): to ``conversation``, else where they talked lately, else the console.
        A body over the limit is cut, ending with ``more`` (where to read the rest)."""
        if conversation is None:
            routes = await asyncio.to_thread(self.recent_conversations_sync, workspace, NOTICE_ROUTE_WITHIN)
            conversation = routes[0] if routes else f"console:{operator}"
        body = body.strip()
        if len(body) > MAX_BODY_CHARS:
            tail = f"…\n{more}" if more else "…"
            body = body[: MAX_BODY_CHARS - len(tail)].rstrip() + tail
        return await self.create(
            workspace=workspace,
            operator=operator,
            kind="notice",
            body=body,
            conversation=conversation,
            timezone=timezone,
            fire_at=self.clock.now(),
        )

    def recent_conversations_sync(self, workspace: str, within: timedelta) -> list[str]:
        """Where the operator talked to us lately, most recent first: the fallback routes."""
        with self.db.connection() as conn:
            rows = conn.execute(
                """SELECT conversation FROM conversation_turns WHERE workspace = %s AND created_at > now() - %s
                   GROUP BY conversation ORDER BY max(created_at) DESC LIMIT 5""",
                (workspace, within),
            ).fetchall()
        return [str(r[0]) for r in rows]
