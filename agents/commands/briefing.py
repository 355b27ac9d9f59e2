"""The briefing in chat: ``/brief`` now (with its chart), ``/brief at 07:30`` daily, ``/brief off``."""

from __future__ import annotations

from agents.briefing import assemble
from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.commands.reminders import describe_schedule
from agents.reply import Reply
from agents.when import TimePhraseError, clock_in

NOW = frozenset({"now", "today", "please", "now please"})  # "/brief now" is the briefing itself, not a time


async def _brief(routed: Routed, ctx: LocalContext) -> Reply:
    when = routed.args.get("when")
    if when and " ".join(when.lower().split()) not in NOW:
        return Reply(await _schedule(when, ctx))
    briefing = await assemble(ctx.memory, ctx.gate, workspace=ctx.workspace, timezone=ctx.timezone, budget=ctx.budget)
    if briefing.reported:
        await ctx.memory.schedules.mark_reported(list(briefing.reported))
    return Reply(briefing.text, briefing.buttons, image_png=briefing.chart_png)


async def _schedule(when: str, ctx: LocalContext) -> str:
    """``/brief at 07:30``, ``/brief weekdays at 7``, ``/brief off``."""
    phrase_ = " ".join(when.lower().split())
    schedules = ctx.memory.schedules
    now = ctx.memory.clock.now()
    if phrase_ in ("off", "stop", "cancel", "none"):
        current = await schedules.briefing(workspace=ctx.workspace, operator=ctx.operator)
        if current is None:
            return "No daily briefing was scheduled."
        await schedules.set_status(current.id, "cancelled", workspace=ctx.workspace)
        return "The daily briefing is off. /brief still gives you one now."
    if phrase_ in ("status", "when"):
        current = await schedules.briefing(workspace=ctx.workspace, operator=ctx.operator)
        return f"Daily briefing: {describe_schedule(current, now)}." if current else "No daily briefing is scheduled."
    try:
        clock = clock_in(phrase_)
    except TimePhraseError as err:
        return f"{err} For example: /brief at 07:30, or /brief off."
    days = "mon-fri" if "weekday" in phrase_ else "*"
    schedule = await schedules.create(
        workspace=ctx.workspace,
        operator=ctx.operator,
        kind="briefing",
        body="",
        conversation=ctx.conversation,
        timezone=ctx.timezone,
        crontab=f"{clock.minute} {clock.hour} * * {days}",
    )
    return f"Your briefing will arrive {describe_schedule(schedule, now)}, here. /brief off stops it."


COMMANDS = (
    Command(
        "brief",
        _brief,
        (
            phrase(
                80,
                r"^(?:/brief|brief(?: me)?|briefing|(?:daily|morning) briefing|what's (?:on )?(?:for )?today)"
                r"(?:\s+(?P<when>.+))?$",
            ),
        ),
        name="brief",
        help="- *briefing*: /brief now, /brief at 07:30 every day, /brief off; /timezone Europe/Paris",
        help_order=100,
        menu="today's briefing; /brief at 07:30 sends it daily",
        menu_order=50,
        slack=True,
    ),
)

__all__ = ["COMMANDS"]
