"""Late is said (issue 15): a reminder or briefing sent more than a minute after its time says when it
was due, when it was sent, in the operator's time zone, and why — as far as SoloOS knows. The
process clock is set to that day (``clock_at``), and the delivery service runs on a clock of its own
that the tests move past the due time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import App
from bot.deliveries import LATE_AFTER
from bot.outbound import Outbound
from memory import Schedule
from tests.bot.test_scheduler import GRACE, Clock, Recorder, deliveries, log_of

DUE = datetime(2030, 6, 12, 13, 5, tzinfo=UTC)  # 15:05 in Berlin, 09:05 in New York
DOWN = "SoloOS was not running or could not reach its database"


@pytest.fixture(autouse=True)
def on_the_day(clock_at: Callable[[datetime], None]) -> None:
    """The whole process lives on the due day, shortly before the due time (what the briefing reads
    as today, what the stores stamp), whatever day the test runs."""
    clock_at(DUE - timedelta(minutes=5))


async def scheduled(
    app: App, workspace: str, *, kind: str = "reminder", body: str = "call Acme", timezone: str = "Europe/Berlin"
) -> Schedule:
    if kind == "reminder":
        return await app.memory.schedules.create(
            workspace=workspace,
            operator="tester",
            kind="reminder",
            body=body,
            conversation="test:phone",
            timezone=timezone,
            fire_at=DUE,
        )
    schedule = await app.memory.schedules.create(
        workspace=workspace,
        operator="tester",
        kind="briefing",
        body="",
        conversation="test:phone",
        timezone=timezone,
        crontab="5 15 * * *",
    )

    def set_just_before() -> None:  # set a minute before its run, so no earlier run counts as missed
        with app.memory.db.connection() as conn:
            just_before = DUE - timedelta(minutes=1)
            conn.execute("UPDATE schedules SET created_at = %s WHERE id = %s", (just_before, schedule.id))

    await asyncio.to_thread(set_just_before)
    return schedule


async def stop(app: App, workspace: str) -> None:
    for schedule in await app.memory.schedules.active(workspace=workspace):
        await app.memory.schedules.set_status(schedule.id, "cancelled", workspace=workspace)


async def test_a_reminder_within_a_minute_of_its_time_says_nothing_about_time(app: App, workspace: str) -> None:
    clock = Clock(DUE + LATE_AFTER - timedelta(seconds=1))
    recording, outbound = Recorder(), Outbound()
    outbound.register("test", recording.send)
    schedule = await scheduled(app, workspace)
    assert await deliveries(app, outbound, clock).fire(schedule.id, DUE, grace=GRACE) == "sent"
    assert [r.text for _, r, _ in recording.sent] == ["⏰ Reminder: call Acme"]


async def test_a_reminder_fired_after_downtime_says_when_it_was_due_and_why(app: App, workspace: str) -> None:
    clock = Clock(DUE + timedelta(minutes=2, seconds=10))
    recording, outbound = Recorder(), Outbound()
    outbound.register("test", recording.send)
    schedule = await scheduled(app, workspace)
    assert await deliveries(app, outbound, clock).fire(schedule.id, DUE, grace=GRACE) == "sent"
    [(_, sent, _)] = recording.sent
    assert sent.text == f"⏰ Reminder (due 15:05, sent 15:07 — {DOWN}): call Acme"
    assert [b.label for b in sent.buttons] == ["Snooze 1h", "Tomorrow"]  # still a reminder


async def test_times_are_in_the_schedules_time_zone_with_the_day_when_it_changed(app: App, workspace: str) -> None:
    clock = Clock(DUE + timedelta(hours=16))  # 01:05 the next day in New York
    recording, outbound = Recorder(), Outbound()
    outbound.register("test", recording.send)
    schedule = await scheduled(app, workspace, timezone="America/New_York")
    assert await deliveries(app, outbound, clock).fire(schedule.id, DUE, grace=timedelta(days=1)) == "sent"
    expected = f"⏰ Reminder (due Wed 12 Jun 09:05, sent 01:05 — {DOWN}): call Acme"
    assert [r.text for _, r, _ in recording.sent] == [expected]


async def test_a_retried_reminder_says_the_channel_refused_it_and_any_downtime_after(app: App, workspace: str) -> None:
    clock = Clock(DUE)
    recording, outbound = Recorder(), Outbound()
    outbound.register("test", recording.send)
    service = deliveries(app, outbound, clock)
    schedule = await scheduled(app, workspace)
    recording.unreachable = {"phone"}
    assert await service.fire(schedule.id, DUE, grace=GRACE) == "retrying"  # on time, but refused
    recording.unreachable = set()
    clock.advance(timedelta(minutes=10))  # the retry was due after 30 s; SoloOS was down until now
    assert await service.retry_due("test") == 1
    refused = "test did not accept the message at first (ConnectionError: phone is unreachable)"
    expected = f"⏰ Reminder (due 15:05, sent 15:15 — {refused}, then {DOWN}): call Acme"
    assert [r.text for _, r, _ in recording.sent] == [expected]
    [delivery] = await log_of(app, workspace)
    assert (delivery.delivery_status, delivery.body) == ("sent", "⏰ Reminder: call Acme")  # the log keeps the message


async def test_a_late_briefing_says_under_its_title_when_it_was_due_and_why(app: App, workspace: str) -> None:
    clock = Clock(DUE + timedelta(minutes=12))
    recording, outbound = Recorder(), Outbound()
    outbound.register("test", recording.send)
    schedule = await scheduled(app, workspace, kind="briefing")
    try:
        assert await deliveries(app, outbound, clock).fire(schedule.id, DUE, grace=GRACE) == "sent"
    finally:
        await stop(app, workspace)
    [(_, sent, _)] = recording.sent
    title, late, first = sent.text.split("\n")[:3]
    assert title == "*Briefing for Wednesday 12 June*"
    assert late == f"(Late: due 15:05, sent 15:17 — {DOWN}.)"
    assert first.startswith("Calendar")  # then the briefing as ever
