"""The scheduler: APScheduler 3 (``AsyncIOScheduler``) with its jobs in Postgres, one leader per
channel per database.

Every serving process runs this. For each chat channel the process serves (console, telegram,
slack) it competes for a Postgres advisory lock; the holder adds that channel's job store
(``apscheduler_jobs_<channel>``) to its scheduler and fires those jobs. The others wait and take
over within ``standby_poll`` seconds when the holder dies (its session ends, the lock is freed).
So several ``soloos run`` replicas never double-fire, and a reminder is always fired by a process
that can deliver it. See docs/decisions.md (D18).

The ``schedules`` table is the source of truth; APScheduler keeps trigger state (next run time).
Schedule changes arrive by ``LISTEN soloos_schedules`` and are planned at once. Jobs are stored as
import strings (``bot.scheduler:fire``) with ``coalesce`` and an explicit ``misfire_grace_time``;
``FireExecutor`` hands each run its scheduled fire time, which APScheduler 3 does not pass itself.

A database restart ends every session, so the leader loses its lock and its LISTEN: it steps down
(its job store leaves the scheduler, whatever part of the step-up had happened), takes the lead back
on a new connection once the server answers, and reconciles: schedules made or changed while nobody
listened are planned then, and again at every sweep, so a lost notification costs one sweep at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from agents.reminders import trigger
from bot.background import cancel_all
from bot.deliveries import Deliveries
from bot.leadership import lead
from memory import NOTIFY_CHANNEL, DatabaseUnavailable, Schedule

log = logging.getLogger(__name__)

JOB_FUNCTION = "bot.scheduler:fire"
FIRE_ATTEMPTS = 4  # a run that meets a dropped database connection (e.g. a stale pooled one) is tried again
FIRE_RETRY = 1.0  # seconds between those attempts; the delivery log keeps them at most once


async def fire(
    schedule_id: int,
    *,
    fire_at: datetime | None = None,
    deliveries: Deliveries | None = None,
    grace: timedelta | None = None,
) -> None:
    """The job every schedule runs (referenced by its import string in the job store). The keyword
    arguments come from ``FireExecutor`` at run time; they are optional only for APScheduler's
    signature check when the job is added."""
    if fire_at is None or deliveries is None:
        raise RuntimeError("scheduled jobs run through FireExecutor, which supplies the fire time")
    for attempt in range(1, FIRE_ATTEMPTS + 1):
        try:
            outcome = await deliveries.fire(schedule_id, fire_at, grace=grace)
        except DatabaseUnavailable as err:
            if attempt == FIRE_ATTEMPTS:
                raise  # the sweep plans it again (its schedule is still active) once the database is back
            log.warning("schedule %s at %s: %s; trying again", schedule_id, fire_at.isoformat(), err)
            await asyncio.sleep(FIRE_RETRY)
        else:
            log.info("schedule %s at %s: %s", schedule_id, fire_at.isoformat(), outcome)
            return


class _AsyncIOScheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """APScheduler's asyncio scheduler plans its next wake-up at the end of each round; a round that
    raises (a job store losing its database mid-round) would plan none, and the scheduler would stay
    asleep until something woke it. Here a failed round is tried again after the store retry interval."""

    def _process_jobs(self) -> float | None:
        try:
            wait: float | None = super()._process_jobs()
        except Exception as err:
            log.warning("the scheduler could not go through its jobs (%s); again in %ss", err, self.retry_every)
            return float(self.retry_every)
        return wait

    @property
    def retry_every(self) -> float:
        return float(self.jobstore_retry_interval)


class FireExecutor(AsyncIOExecutor):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """Runs jobs in the event loop and passes each run its scheduled fire time and the delivery
    service. Lateness (the misfire policy) is judged by ``Deliveries.fire`` against the job's
    ``misfire_grace_time``, so a missed run is recorded instead of only logged."""

    def __init__(self, deliveries: Deliveries) -> None:
        super().__init__()
        self.deliveries = deliveries

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        grace = timedelta(seconds=job.misfire_grace_time) if job.misfire_grace_time is not None else None

        async def run() -> list[Any]:
            for run_time in run_times:
                await job.func(*job.args, fire_at=run_time, deliveries=self.deliveries, grace=grace, **job.kwargs)
            return []

        def done(future: asyncio.Future[list[Any]]) -> None:
            self._pending_futures.discard(future)
            try:
                events = future.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        future = self._eventloop.create_task(run())
        future.add_done_callback(done)
        self._pending_futures.add(future)


class Scheduler:
    def __init__(
        self,
        deliveries: Deliveries,
        *,
        conninfo: str,
        misfire_grace: timedelta,
        standby_poll: float = 5.0,
        sweep_every: float = 15.0,
    ) -> None:
        self.deliveries = deliveries
        self.schedules = deliveries.schedules
        self.conninfo = conninfo
        self.misfire_grace = misfire_grace
        self.standby_poll = standby_poll
        self.sweep_every = sweep_every
        self.leading: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._aps: AsyncIOScheduler | None = None
        self._engine: Engine | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, channels: list[str]) -> None:
        """Compete for the scheduler of each channel this process can deliver to."""
        await self.stop()
        # pre-ping: a pooled job-store connection that died with the server is replaced, not used
        self._engine = create_engine("postgresql+psycopg://", creator=self._connect, pool_pre_ping=True)
        self._aps = _AsyncIOScheduler(
            timezone=UTC,
            executors={"default": FireExecutor(self.deliveries)},
            job_defaults={"coalesce": True, "max_instances": 1},
            jobstore_retry_interval=self.standby_poll,
        )
        self._aps.start()
        self._tasks = [
            asyncio.create_task(
                lead(
                    self.conninfo,
                    f"scheduler:{channel}",
                    functools.partial(self._run_as_leader, channel=channel),
                    retry=self.standby_poll,
                    step_down=functools.partial(self._drop, channel),
                ),
                name=f"scheduler:{channel}",
            )
            for channel in channels
        ]

    async def stop(self) -> None:
        """Stop firing; safe to call more than once."""
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _connect(self) -> psycopg.Connection[Any]:
        """Job-store connections skip the wait for the WAL flush on commit: a crash may then forget
        the last few job-store changes, so a job could run again; the delivery log's (schedule,
        fire time) key turns that into "duplicate", never a second message. It saves one disk
        flush per job, which dominated a burst of reminders due together (see docs/benchmarks.md)."""
        conn = psycopg.connect(self.conninfo, autocommit=True)
        conn.execute("SET synchronous_commit TO off")
        conn.autocommit = False
        return conn

    # -- leadership -----------------------------------------------------------------------------

    async def _run_as_leader(self, conn: psycopg.AsyncConnection[Any], *, channel: str) -> None:
        """Step up, then sweep until the connection (and with it the lock) is lost. Any failure on the
        way, a half-done step-up included, ends in ``_drop`` (through ``lead``)."""
        await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")  # before reconciling: no change falls in between
        await asyncio.to_thread(self._add_store, channel)
        self.leading.add(channel)
        log.info("this process now runs the %s scheduler", channel)
        await self.deliveries.recover(channel)
        await asyncio.to_thread(self._reconcile, channel)
        while True:
            async for note in conn.notifies(timeout=self.sweep_every):
                if note.payload.isdigit():
                    await asyncio.to_thread(self._plan_id, channel, int(note.payload))
            await self.deliveries.retry_due(channel)
            await self.deliveries.recover(channel)
            await asyncio.to_thread(self._reconcile, channel)  # what a lost notification or a failed run left
            await conn.execute("SELECT 1")  # still connected, so still holding the lock

    def _add_store(self, channel: str) -> None:
        """The channel's job store joins the scheduler (its table is created if needed). A store left
        by an earlier step-up that was cut short goes first: stepping up twice is stepping up once."""
        assert self._aps is not None
        self._remove_store(channel)
        store = SQLAlchemyJobStore(engine=self._engine, tablename=f"apscheduler_jobs_{channel}")
        self._aps.add_jobstore(store, channel)

    def job(self, schedule_id: int, channel: str) -> Any:
        """The planned job of a schedule, when this process leads its channel (for status and tests)."""
        if self._aps is None or channel not in self.leading:
            return None
        return self._aps.get_job(str(schedule_id), jobstore=channel)

    def _drop(self, channel: str) -> None:
        """Step down: undo all a step-up did, however far it got (APScheduler keeps a job store whose
        start failed, so this does not ask whether the step-up finished)."""
        self.leading.discard(channel)
        self._remove_store(channel)

    def _remove_store(self, channel: str) -> None:
        if self._aps is None:
            return
        with contextlib.suppress(KeyError):  # not added (yet)
            self._aps.remove_jobstore(channel, shutdown=False)  # the engine is shared by every channel

    # -- planning -------------------------------------------------------------------------------

    def _reconcile(self, channel: str) -> None:
        """On taking over and at every sweep: plan schedules that have no job (made while nobody
        listened, or whose run failed before it was recorded), re-plan those changed while nobody
        listened, drop jobs whose schedule ended. Unchanged jobs keep their next run time, so runs
        missed while nobody led still fire (or are recorded as missed) now."""
        assert self._aps is not None
        active = {s.id: s for s in self.schedules.active_sync() if _channel(s) == channel}
        jobs = {int(job.id): job for job in self._aps.get_jobs(jobstore=channel)}
        for schedule_id in jobs.keys() - active.keys():
            self._unplan(channel, schedule_id)
        for schedule_id, schedule in active.items():
            job = jobs.get(schedule_id)
            if job is None:
                since = self.schedules.last_fire_sync(schedule_id) or schedule.created_at
                self._plan(channel, schedule, since=since)
            elif str(job.trigger) != str(_trigger(schedule)):  # snoozed or moved while nobody listened
                self._plan(channel, schedule, since=self.deliveries.clock())

    def _plan_id(self, channel: str, schedule_id: int) -> None:
        schedule = self.schedules.get_sync(schedule_id)
        if schedule is None or _channel(schedule) != channel:
            return
        if schedule.status != "active":
            self._unplan(channel, schedule_id)
        else:
            self._plan(channel, schedule, since=self.deliveries.clock())

    def _plan(self, channel: str, schedule: Schedule, *, since: datetime) -> None:
        assert self._aps is not None
        job_trigger = _trigger(schedule)
        if schedule.crontab is not None:
            first = job_trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
        else:
            first = schedule.fire_at
        self._aps.add_job(
            JOB_FUNCTION,
            job_trigger,
            args=[schedule.id],
            id=str(schedule.id),
            name=f"{schedule.kind} #{schedule.id}",
            jobstore=channel,
            replace_existing=True,
            misfire_grace_time=int(self.misfire_grace.total_seconds()),
            coalesce=True,
            next_run_time=first,
        )

    def _unplan(self, channel: str, schedule_id: int) -> None:
        assert self._aps is not None
        with contextlib.suppress(JobLookupError):
            self._aps.remove_job(str(schedule_id), jobstore=channel)


def _channel(schedule: Schedule) -> str:
    return schedule.conversation.partition(":")[0]


def _trigger(schedule: Schedule) -> Any:
    if schedule.crontab is not None:
        return trigger(schedule.crontab, schedule.timezone)
    assert schedule.fire_at is not None
    return DateTrigger(run_date=schedule.fire_at, timezone=UTC)
