"""The operator's preferences: the agents' mode and the time zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.reply import Reply
from memory import MODES


async def _mode(routed: Routed, ctx: LocalContext) -> Reply:
    mode = routed.args.get("mode")
    store = ctx.memory.agent_store
    if mode is None:
        current = await store.get_mode(ctx.workspace, ctx.operator)
        return Reply(
            f"Mode: {current}. Modes: exploratory (gathers, takes no actions), deterministic (follows your "
            "rules exactly), creative (offers variants). Say /mode <name> to change."
        )
    if mode not in MODES:
        return Reply(f"There is no {mode!r} mode; choose exploratory, deterministic or creative.")
    await store.set_mode(ctx.workspace, ctx.operator, mode)
    return Reply(f"Mode set to {mode}.")


async def _timezone(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await _set_timezone(routed.text, ctx))


async def _set_timezone(name: str, ctx: LocalContext) -> str:
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
    now = ctx.memory.clock.local(zone)
    follow = f" Your {moved} repeating schedule(s) keep their time of day in the new zone." if moved else ""
    return f"Time zone set to {zone} (it is {now:%H:%M} there).{follow} One-off reminders keep their moment."


COMMANDS = (
    Command(
        "timezone",
        _timezone,
        (
            phrase(
                120,
                r"^(?:/timezone|/tz|time ?zone|my time ?zone is|set (?:my )?time ?zone(?: to)?)"
                r"(?:\s+(?P<text>[\w/+ -]{1,60}))?$",
            ),
        ),
        name="timezone",
        menu="your time zone: /timezone Europe/Paris",
        menu_order=70,
        slack=True,
    ),
    Command(
        "mode",
        _mode,
        (phrase(140, r"^(?:/mode|mode)(?:\s+(?P<mode>[a-z]+))?$"),),
        name="mode",
        menu="exploratory, deterministic or creative",
        menu_order=150,
        slack=True,
    ),
)

__all__ = ["COMMANDS"]
