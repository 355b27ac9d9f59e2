"""Reminders, the briefing schedule and the operator's time zone, handled by the local tier.

These only write schedule records; the process holding the scheduler picks the change up at once
(``NOTIFY``) and does the firing and delivering.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from agents.reminders import ReminderError, describe_rule, next_fire, parse_reminder
from agents.when import TimePhraseError
from agents.when import clock_in as clock_of
from memory import NotFound, Schedule

if TYPE_CHECKING:
    from agents.local_tier import Answer, LocalContext

MAX_CANCEL_BUTTONS = 6
SNOOZES = {"1h": timedelta(hours=1), "3h": timedelta(hours=3)}


def reminder_choices(schedule: Schedule) -> tuple[tuple[str, str], ...]:
    """The buttons under a reminder when it fires."""
    stop = ("Stop repeating", f"/cancel_reminder {schedule.id}")
    if schedule.recurring:
        return (("Snooze 1h", f"/snooze {schedule.id} 1h"), stop)
    return (
        ("Snooze 1h", f"/snooze {schedule.id} 1h"),
        ("Tomorrow", f"/snooze {schedule.id} tomorrow"),
    )


def describe_schedule(schedule: Schedule, now: datetime | None = None) -> str:
    tz = ZoneInfo(schedule.timezone)
    if schedule.crontab:
        upcoming = next_fire(schedule.crontab, schedule.timezone, now or datetime.now(UTC))
        return f"{describe_rule(schedule.crontab)} ({schedule.timezone}), next {upcoming.astimezone(tz):%a %d %b %H:%M}"
    assert schedule.fire_at is not None
    local = schedule.fire_at.astimezone(tz)
    clock = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"  # "in 20 seconds" shows its second
    return f"{local:%a %d %b %Y} {clock} ({schedule.timezone})"


async def remind(text: str, ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer

    try:
        plan = parse_reminder(text, now=datetime.now(UTC), timezone=ctx.timezone)
    except ReminderError as err:
        return Answer(str(err), ok=True)
    schedule = await ctx.memory.schedules.create(
        workspace=ctx.workspace,
        operator=ctx.operator,
        kind="reminder",
        body=plan.body,
        conversation=ctx.conversation,
        timezone=ctx.timezone,
        crontab=plan.crontab,
        fire_at=plan.fire_at,
    )
    await ctx.gate.record_operator_action(
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        action_type="reminder.create",
        outcome=f"set reminder #{schedule.id}: {schedule.body}",
        undo={"kind": "schedule.cancel", "id": schedule.id},
    )
    return Answer(
        f"I'll remind you {describe_schedule(schedule)}: {schedule.body} [reminder #{schedule.id}]",
        (("Cancel", f"/cancel_reminder {schedule.id}"),),
    )


async def list_reminders(ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer

    active = await ctx.memory.schedules.active(workspace=ctx.workspace)
    reminders = [s for s in active if s.kind == "reminder"]
    briefing = next((s for s in active if s.kind == "briefing" and s.operator == ctx.operator), None)
    lines = []
    if briefing:
        lines.append(f"Daily briefing: {describe_schedule(briefing)}.")
    if not reminders:
        lines.append('No reminders set. Say, for example, "remind me tomorrow at 9 to call Acme".')
        return Answer("\n".join(lines))
    lines.append(f"Reminders ({len(reminders)}):")
    lines += [f"- #{s.id} {s.body} — {describe_schedule(s)}" for s in reminders]
    choices = tuple((f"Cancel #{s.id}", f"/cancel_reminder {s.id}") for s in reminders[:MAX_CANCEL_BUTTONS])
    if len(reminders) > MAX_CANCEL_BUTTONS:
        lines.append("Say cancel reminder <number> to drop one.")
    return Answer("\n".join(lines), choices)


async def cancel(schedule_id: int, ctx: LocalContext) -> str:
    try:
        schedule = await ctx.memory.schedules.get(schedule_id, workspace=ctx.workspace)
    except NotFound:
        return f"There is no reminder #{schedule_id}. Say reminders to see them."
    if schedule.status != "active":
        return f"Reminder #{schedule_id} is already {'done' if schedule.status == 'done' else 'cancelled'}."
    await ctx.memory.schedules.set_status(schedule_id, "cancelled", workspace=ctx.workspace)
    return f"Cancelled reminder #{schedule_id}: {schedule.body}"


async def snooze(schedule_id: int, when: str, ctx: LocalContext) -> str:
    try:
        schedule = await ctx.memory.schedules.get(schedule_id, workspace=ctx.workspace)
    except NotFound:
        return f"There is no reminder #{schedule_id}. Say reminders to see them."
    now = datetime.now(UTC)
    phrase = (when or "1h").strip().lower()
    if phrase in SNOOZES:
        fire_at = now + SNOOZES[phrase]
    else:
        try:
            parsed = parse_reminder(f"{phrase} to x", now=now, timezone=schedule.timezone).fire_at
        except ReminderError as err:
            return f"I couldn't snooze reminder #{schedule_id}: {err}"
        if parsed is None:  # a repeating phrase ("every day") is not a snooze
            return f"Snooze to one moment, for example /snooze {schedule_id} 1h or /snooze {schedule_id} tomorrow."
        fire_at = parsed
    if schedule.recurring:  # the series keeps its rule; the snoozed copy fires once
        copy = await ctx.memory.schedules.create(
            workspace=schedule.workspace,
            operator=schedule.operator,
            kind="reminder",
            body=schedule.body,
            conversation=schedule.conversation,
            timezone=schedule.timezone,
            fire_at=fire_at,
        )
        return f"Snoozed: I'll remind you again {describe_schedule(copy)}: {copy.body} [reminder #{copy.id}]"
    moved = await ctx.memory.schedules.reschedule(schedule_id, fire_at, workspace=ctx.workspace)
    return f"Snoozed: I'll remind you again {describe_schedule(moved)}: {moved.body}"


async def brief_schedule(when: str, ctx: LocalContext) -> str:
    """``/brief at 07:30``, ``/brief weekdays at 7``, ``/brief off``."""
    phrase = " ".join(when.lower().split())
    schedules = ctx.memory.schedules
    if phrase in ("off", "stop", "cancel", "none"):
        current = await schedules.briefing(workspace=ctx.workspace, operator=ctx.operator)
        if current is None:
            return "No daily briefing was scheduled."
        await schedules.set_status(current.id, "cancelled", workspace=ctx.workspace)
        return "The daily briefing is off. /brief still gives you one now."
    if phrase in ("status", "when"):
        current = await schedules.briefing(workspace=ctx.workspace, operator=ctx.operator)
        return f"Daily briefing: {describe_schedule(current)}." if current else "No daily briefing is scheduled."
    try:
        clock = clock_of(phrase)
    except TimePhraseError as err:
        return f"{err} For example: /brief at 07:30, or /brief off."
    days = "mon-fri" if "weekday" in phrase else "*"
    schedule = await schedules.create(
        workspace=ctx.workspace,
        operator=ctx.operator,
        kind="briefing",
        body="",
        conversation=ctx.conversation,
        timezone=ctx.timezone,
        crontab=f"{clock.minute} {clock.hour} * * {days}",
    )
    return f"Your briefing will arrive {describe_schedule(schedule)}, here. /brief off stops it."


async def set_timezone(name: str, ctx: LocalContext) -> str:
    if not name:
        return f"Your time zone is {ctx.timezone}. Change it with /timezone Europe/Paris (an IANA name)."
    wanted = name.strip().replace(" ", "_")
    matches = [z for z in available_timezones() if z.lower() == wanted.lower()]
    if not matches:
        suggestions = sorted(z for z in available_timezones() if wanted.lower() in z.lower())[:5]
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else " Use an IANA name like America/New_York."
        return f"I don't know the time zone {name!r}.{hint}"
    try:
        zone = matches[0]
        ZoneInfo(zone)
    except ZoneInfoNotFoundError:
        return f"I don't know the time zone {name!r}."
    await ctx.memory.agent_store.set_timezone(ctx.workspace, ctx.operator, zone)
    moved = await ctx.memory.schedules.move_recurring(workspace=ctx.workspace, operator=ctx.operator, timezone=zone)
    now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    follow = f" Your {moved} repeating schedule(s) keep their time of day in the new zone." if moved else ""
    return f"Time zone set to {zone} (it is {now:%H:%M} there).{follow} One-off reminders keep their moment."
