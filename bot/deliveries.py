"""What happens when a schedule fires: decide whether the run is on time, claim it in the delivery
log (at most once per schedule and fire time), compose the message, send it, and keep trying.

Job status and delivery status are recorded apart. A failed send is retried with backoff from the
delivery log (so retries survive restarts); when the retries are used up it goes to another
conversation the operator used lately, and failing that it is held and shown at the next contact.
A send interrupted by a crash is not repeated (it may have arrived) but reported as uncertain. A
claimed run that meets a dropped database (a restart) waits for it, up to ``PATIENCE``, rather than
leave its delivery to be reported as uncertain when it was never sent, or sent and not recorded.

Late is said: a reminder or briefing sent more than ``LATE_AFTER`` after its time says when it was
due, when it was sent (in the schedule's time zone) and why, as far as this process knows: a run
that started late knows only that SoloOS was not running or could not reach its database; a retry
knows the error the channel gave.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agents import Gate
from agents.briefing import assemble, buttons_of
from agents.commands.reminders import reminder_buttons
from agents.models import Budget
from agents.reminders import trigger
from bot.intent import Button, Reply
from bot.outbound import Outbound
from memory import DatabaseUnavailable, Delivery, MemoryService, Schedule, ScheduleKind

log = logging.getLogger(__name__)

RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=8), timedelta(minutes=30))
SENDING_TIMEOUT = timedelta(minutes=5)  # a send still "sending" after this was cut off by a crash
FALLBACK_WITHIN = timedelta(days=14)
MAX_COALESCED = 100  # missed runs recorded one by one before a recurring job catches up
LATE_AFTER = timedelta(seconds=60)  # a reminder or briefing sent later than this after its time says so
REMINDER = "⏰ Reminder"
NOT_RUNNING = "SoloOS was not running or could not reach its database"
SLOW = "preparing it took that long"
CHANNEL_NAMES = {"telegram": "Telegram", "slack": "Slack", "console": "The console"}
MAX_ERROR_CHARS = 120  # of a channel's error quoted in a late message
PATIENCE = timedelta(seconds=60)  # a claimed run waits this long for a database that went away
PATIENCE_STEP = 1.0  # seconds between tries meanwhile


@dataclass(frozen=True)
class Due:
    """When a message was due, in whose time zone, and why it would be late if it is."""

    at: datetime
    timezone: str
    kind: ScheduleKind
    why: str


def said_late(text: str, due: Due, sent: datetime) -> str:
    """``text`` saying when it was due, when it was sent and why (reminders and briefings)."""
    tz = ZoneInfo(due.timezone)
    when, now = due.at.astimezone(tz), sent.astimezone(tz)
    label = f"due {when:%H:%M}" if when.date() == now.date() else f"due {when:%a %d %b %H:%M}"
    note = f"{label}, sent {now:%H:%M} — {due.why}"
    if due.kind == "reminder" and text.startswith(f"{REMINDER}: "):
        return f"{REMINDER} ({note}): {text.removeprefix(f'{REMINDER}: ')}"
    if due.kind in ("reminder", "briefing"):  # under the briefing's title
        title, _, rest = text.partition("\n")
        return "\n".join(line for line in (title, f"(Late: {note}.)", rest) if line)
    return text


class Deliveries:
    def __init__(
        self,
        memory: MemoryService,
        gate: Gate,
        outbound: Outbound,
        *,
        budget: Budget,
        clock: Callable[[], datetime] | None = None,
        retry_delays: tuple[timedelta, ...] = RETRY_DELAYS,
        late_after: timedelta = LATE_AFTER,
        patience: timedelta = PATIENCE,
    ) -> None:
        self.memory = memory
        self.schedules = memory.schedules
        self.gate = gate
        self.outbound = outbound
        self.budget = budget
        self.clock = clock or memory.clock.now  # the one clock, unless a test drives this one
        self.retry_delays = retry_delays
        self.late_after = late_after
        self.patience = patience

    async def fire(self, schedule_id: int, fire_at: datetime, *, grace: timedelta | None) -> str:
        """Handle one fire time of one schedule; returns what happened (for logs and tests)."""
        schedule = await asyncio.to_thread(self.schedules.get_sync, schedule_id)
        if schedule is None or schedule.status != "active":
            return "inactive"
        await self._record_coalesced(schedule, fire_at)
        late = self.clock() - fire_at
        if grace is not None and late > grace:
            await asyncio.to_thread(self.schedules.claim_sync, schedule, fire_at, missed=True)
            await asyncio.to_thread(self.schedules.finish_sync, schedule.id)
            log.warning("schedule %s missed its %s run by %s; it will be reported", schedule.id, fire_at, late)
            return "missed"
        delivery_id = await asyncio.to_thread(self.schedules.claim_sync, schedule, fire_at)
        if delivery_id is None:
            log.info("schedule %s at %s was already handled; not sending again", schedule.id, fire_at)
            await asyncio.to_thread(self.schedules.finish_sync, schedule.id)  # a one-shot stays done
            return "duplicate"
        # Claimed: this run is ours alone to finish, so from here a dropped database is waited out.
        await self._patiently(self.schedules.finish_sync, schedule.id)
        try:
            reply, reported = await self._patiently(self._compose, schedule)
        except Exception as err:  # the run itself failed: record it apart from delivery, tell the operator
            log.exception("could not prepare schedule %s", schedule.id)
            await self._patiently(self.schedules.job_failed_sync, delivery_id, f"{type(err).__name__}: {err}")
            return "failed"
        await self._patiently(self.schedules.sending_sync, delivery_id, reply.text)
        due = Due(fire_at, schedule.timezone, schedule.kind, NOT_RUNNING if late > self.late_after else SLOW)
        outcome = await self._send(delivery_id, schedule.conversation, schedule.workspace, reply, attempt=1, due=due)
        if outcome == "sent" and reported:
            await self.schedules.mark_reported(list(reported))
        return outcome

    async def retry_due(self, channel: str) -> int:
        """Send the deliveries whose retry time has come; returns how many were tried."""
        taken = await asyncio.to_thread(self.schedules.take_retries_sync, self.clock(), channel)
        for delivery in taken:
            reply, due = await self._resend(delivery)
            await self._send(
                delivery.id, delivery.conversation, delivery.workspace, reply, attempt=delivery.attempts, due=due
            )
        return len(taken)

    async def recover(self, channel: str) -> int:
        """Sends cut off by a crash become 'uncertain' (at most once: they may have arrived)."""
        return await asyncio.to_thread(self.schedules.orphaned_sync, self.clock() - SENDING_TIMEOUT, channel)

    # -- internals ------------------------------------------------------------------------------

    async def _patiently(self, step: Callable[..., Any], *args: Any) -> Any:
        """Run ``step`` (a blocking delivery-log call, or a coroutine function), trying again while the
        database is unreachable, for up to ``patience``: a claimed run that gave up would be reported
        as "may not have arrived" although it was never sent (or was sent and not recorded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience.total_seconds()
        while True:
            try:
                if asyncio.iscoroutinefunction(step):
                    return await step(*args)
                return await asyncio.to_thread(step, *args)
            except DatabaseUnavailable as err:
                if loop.time() >= deadline:
                    raise
                log.warning("delivery log unreachable (%s); trying again", err)
                await asyncio.sleep(PATIENCE_STEP)

    async def _record_coalesced(self, schedule: Schedule, fire_at: datetime) -> None:
        """APScheduler coalesces the runs missed while no scheduler ran into one; log the others as
        missed so they are reported, not silently dropped."""
        if schedule.crontab is None:
            return
        last = await asyncio.to_thread(self.schedules.last_fire_sync, schedule.id)
        rule = trigger(schedule.crontab, schedule.timezone)
        previous = last or schedule.created_at
        for _ in range(MAX_COALESCED):
            missed = rule.get_next_fire_time(None, previous + timedelta(microseconds=1))
            if missed is None or missed >= fire_at:
                return
            await asyncio.to_thread(self.schedules.claim_sync, schedule, missed, missed=True)
            previous = missed

    async def _compose(self, schedule: Schedule) -> tuple[Reply, tuple[int, ...]]:
        if schedule.kind == "reminder":
            return Reply(f"{REMINDER}: {schedule.body}", _buttons(schedule, "")), ()
        if schedule.kind == "notice":
            return Reply(schedule.body), ()
        briefing = await assemble(
            self.memory,
            self.gate,
            workspace=schedule.workspace,
            timezone=schedule.timezone,
            budget=self.budget,
            now=self.clock(),
        )
        return Reply(briefing.text, briefing.buttons, image_png=briefing.chart_png), briefing.reported

    async def _resend(self, delivery: Delivery) -> tuple[Reply, Due | None]:
        """The message of a delivery tried before, and why it is late: the channel's error, and the
        retry's own delay when it ran well after its planned time."""
        schedule = await asyncio.to_thread(self.schedules.get_sync, delivery.schedule_id)
        reply = Reply(delivery.body, _buttons(schedule, delivery.body) if schedule else ())
        if schedule is None:
            return reply, None
        channel = delivery.conversation.partition(":")[0]
        error = (delivery.last_error or "no answer")[:MAX_ERROR_CHARS]
        why = f"{CHANNEL_NAMES.get(channel, channel)} did not accept the message at first ({error})"
        planned = delivery.next_attempt_at
        if planned is not None and self.clock() - planned > self.late_after:
            why += f", then {NOT_RUNNING}"
        return reply, Due(delivery.fire_at, schedule.timezone, schedule.kind, why)

    async def _send(
        self, delivery_id: int, conversation: str, workspace: str, reply: Reply, *, attempt: int, due: Due | None
    ) -> str:
        now = self.clock()
        if due is not None and now - due.at > self.late_after:
            reply = dataclasses.replace(reply, text=said_late(reply.text, due, now))
        try:
            await self.outbound.send(conversation, reply)
        except Exception as err:  # channel libraries raise many kinds; each is a failed attempt
            error = f"{type(err).__name__}: {err}"
            if attempt <= len(self.retry_delays):
                at = self.clock() + self.retry_delays[attempt - 1]
                log.warning("delivery %s to %s failed (%s); retrying at %s", delivery_id, conversation, error, at)
                await self._patiently(self.schedules.retry_later_sync, delivery_id, error, at)
                return "retrying"
            return await self._fallback(delivery_id, conversation, workspace, reply, error)
        await self._patiently(self.schedules.sent_sync, delivery_id, conversation, self.clock())
        return "sent"

    async def _fallback(self, delivery_id: int, failed: str, workspace: str, reply: Reply, error: str) -> str:
        routes = await asyncio.to_thread(self.schedules.recent_conversations_sync, workspace, FALLBACK_WITHIN)
        for conversation in routes:
            if conversation == failed or not self.outbound.can_reach(conversation):
                continue
            note = f"(I couldn't reach you in {failed.partition(':')[0]}: {error})\n\n"
            try:
                await self.outbound.send(conversation, Reply(note + reply.text, reply.buttons, reply.image_png))
            except Exception as err:
                log.warning("fallback delivery %s to %s failed too: %s", delivery_id, conversation, err)
                continue
            await self._patiently(self.schedules.sent_sync, delivery_id, conversation, self.clock())
            return "sent elsewhere"
        log.error("delivery %s could not be sent anywhere (%s); it waits for the next contact", delivery_id, error)
        await self._patiently(self.schedules.failed_sync, delivery_id, error)
        return "failed"


def _buttons(schedule: Schedule, body: str) -> tuple[Button, ...]:
    """A reminder's Snooze buttons; a briefing's Keep / Forget (read back from its text when resent)."""
    if schedule.kind == "briefing":
        return buttons_of(body)
    return reminder_buttons(schedule) if schedule.kind == "reminder" else ()
