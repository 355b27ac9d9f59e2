"""Reminders in chat: set one ("remind me tomorrow at 9 to call Acme", "every Monday at 8am …"), list,
cancel, snooze.

These only write schedule records; the process holding the scheduler picks the change up at once
(``NOTIFY``) and does the firing and delivering. Parsing the phrasing is ``agents.reminders``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.reminders import ReminderError, describe_rule, next_fire, parse_reminder
from agents.reply import Button, Reply
from agents.when import TimePhraseError, moment
from memory import NotFound, Schedule

MAX_CANCEL_BUTTONS = 6
SNOOZES = {"1h": timedelta(hours=1), "3h": timedelta(hours=3)}


def reminder_buttons(schedule: Schedule) -> tuple[Button, ...]:
    """The buttons under a reminder when it fires."""
    stop = Button("Stop repeating", f"/cancel_reminder {schedule.id}")
    if schedule.recurring:
        return (Button("Snooze 1h", f"/snooze {schedule.id} 1h"), stop)
    return (
        Button("Snooze 1h", f"/snooze {schedule.id} 1h"),
        Button("Tomorrow", f"/snooze {schedule.id} tomorrow"),
    )


def describe_schedule(schedule: Schedule, now: datetime) -> str:
    tz = ZoneInfo(schedule.timezone)
    if schedule.crontab:
        upcoming = next_fire(schedule.crontab, schedule.timezone, now)
        return f"{describe_rule(schedule.crontab)} ({schedule.timezone}), next {upcoming.astimezone(tz):%a %d %b %H:%M}"
    assert schedule.fire_at is not None
    local = schedule.fire_at.astimezone(tz)
    clock = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"  # "in 20 seconds" shows its second
    return f"{local:%a %d %b %Y} {clock} ({schedule.timezone})"


async def _remind(routed: Routed, ctx: LocalContext) -> Reply:
    clock = ctx.memory.clock
    try:
        plan = parse_reminder(routed.text, now=clock.now(), timezone=ctx.timezone)
    except ReminderError as err:
        return Reply(str(err), ok=True)
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
    return Reply(
        f"I'll remind you {describe_schedule(schedule, clock.now())}: {schedule.body} [reminder #{schedule.id}]",
        (Button("Cancel", f"/cancel_reminder {schedule.id}"),),
    )


async def _list(routed: Routed, ctx: LocalContext) -> Reply:
    now = ctx.memory.clock.now()
    active = await ctx.memory.schedules.active(workspace=ctx.workspace)
    reminders = [s for s in active if s.kind == "reminder"]
    briefing = next((s for s in active if s.kind == "briefing" and s.operator == ctx.operator), None)
    lines = []
    if briefing:
        lines.append(f"Daily briefing: {describe_schedule(briefing, now)}.")
    if not reminders:
        lines.append('No reminders set. Say, for example, "remind me tomorrow at 9 to call Acme".')
        return Reply("\n".join(lines))
    lines.append(f"Reminders ({len(reminders)}):")
    lines += [f"- #{s.id} {s.body} — {describe_schedule(s, now)}" for s in reminders]
    buttons = tuple(Button(f"Cancel #{s.id}", f"/cancel_reminder {s.id}") for s in reminders[:MAX_CANCEL_BUTTONS])
    if len(reminders) > MAX_CANCEL_BUTTONS:
        lines.append("Say cancel reminder <number> to drop one.")
    return Reply("\n".join(lines), buttons)


async def _cancel(routed: Routed, ctx: LocalContext) -> Reply:
    schedule_id = int(routed.args["id"])
    try:
        schedule = await ctx.memory.schedules.get(schedule_id, workspace=ctx.workspace)
    except NotFound:
        return Reply(f"There is no reminder #{schedule_id}. Say reminders to see them.")
    if schedule.status != "active":
        return Reply(f"Reminder #{schedule_id} is already {'done' if schedule.status == 'done' else 'cancelled'}.")
    await ctx.memory.schedules.set_status(schedule_id, "cancelled", workspace=ctx.workspace)
    return Reply(f"Cancelled reminder #{schedule_id}: {schedule.body}")


async def _snooze(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await _snooze_text(int(routed.args["id"]), routed.text, ctx))


async def _snooze_text(schedule_id: int, when: str, ctx: LocalContext) -> str:
    try:
        schedule = await ctx.memory.schedules.get(schedule_id, workspace=ctx.workspace)
    except NotFound:
        return f"There is no reminder #{schedule_id}. Say reminders to see them."
    now = ctx.memory.clock.now()
    phrase_ = (when or "1h").strip().lower()
    if phrase_ in SNOOZES:
        fire_at = now + SNOOZES[phrase_]
    else:
        try:
            parsed = moment(phrase_, now=now, timezone=schedule.timezone)
        except TimePhraseError as err:
            return f"I couldn't snooze reminder #{schedule_id}: {err}"
        if parsed is None:  # not one moment (a repeating phrase such as "every day" is not a snooze)
            return f"Snooze to one moment, for example /snooze {schedule_id} 1h or /snooze {schedule_id} tomorrow."
        if parsed <= now:
            shown = parsed.astimezone(ZoneInfo(schedule.timezone))
            return f"I couldn't snooze reminder #{schedule_id}: {shown:%a %d %b %Y %H:%M} has already passed."
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
        return f"Snoozed: I'll remind you again {describe_schedule(copy, now)}: {copy.body} [reminder #{copy.id}]"
    moved = await ctx.memory.schedules.reschedule(schedule_id, fire_at, workspace=ctx.workspace)
    return f"Snoozed: I'll remind you again {describe_schedule(moved, now)}: {moved.body}"


COMMANDS = (
    Command(
        "reminders",
        _list,
        (
            phrase(
                90,
                r"^(?:/reminders|reminders|(?:show|list)(?: me)?(?: all)?(?: my)? reminders|what are my reminders)$",
            ),
        ),
        name="reminders",
        menu="your reminders",
        menu_order=60,
        slack=True,
    ),
    Command(
        "reminder_cancel",
        _cancel,
        (phrase(100, r"^(?:/cancel_reminder|(?:cancel|stop|delete|remove) reminder)\s+#?(?P<id>\d{1,12})$"),),
        name="cancel_reminder",
    ),
    Command(
        "reminder_snooze",
        _snooze,
        (
            phrase(
                110,
                r"^(?:/snooze|snooze)(?: reminder)?\s+#?(?P<id>\d{1,12})(?:\s+(?:for\s+|until\s+)?(?P<text>.+))?$",
            ),
        ),
        name="snooze",
        slack=True,
        example="/snooze 3 1h",
    ),
    Command(
        "remind",
        _remind,
        (
            phrase(
                340,
                r"^(?P<text>(?:/remind(?:@\w+)?|remind me|set (?:a )?reminder|reminder:)"
                r"(?!\s+(?:what|who|how)\b)(?:\s.*)?)$",
            ),
            phrase(
                350,
                r"^(?P<text>(?:every|each)\s+(?:day|morning|evening|night|weekday|working day|business day|weekend|"
                r"hour|month|other|second|\d+\w*|(?:mon|tues|wednes|thurs|fri|satur|sun)days?)\b.*)$",
            ),
        ),
        name="remind",
        help='- *reminders*: "remind me tomorrow at 9 to call Acme", "every Monday at 8am review invoices", /reminders',
        help_order=90,
        slack=True,
        example="/remind tomorrow at 9 to call Acme",
    ),
)

__all__ = ["COMMANDS", "MAX_CANCEL_BUTTONS", "SNOOZES", "describe_schedule", "reminder_buttons"]
