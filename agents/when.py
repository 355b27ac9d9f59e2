"""Time phrases in the operator's words → days and instants. The one parser for reminders, task due
dates, plans and the command line.

- ``moment("tomorrow at 9", now=…, timezone=…)``: an aware instant. Relative offsets ("in 2 hours")
  are exact arithmetic on the instant, so they are right across a DST change; a wall time that does
  not exist (the hour skipped when clocks go forward) moves forward by the gap, an ambiguous one (the
  hour repeated when clocks go back) takes its first pass.
- ``day("next friday", today=…)``: a date; a month alone means its last day.
- ``split_due("send invoice to Acme by Friday", …)``: a task title and its due moment, when clear.
- ``instant("3 weeks ago", now=…)``: any date or moment, past or future (the command line's filters).

Every phrase is read by ``dateparser`` with the same settings (English, relative to the operator's
wall clock), through ``_parse``. A phrase that is not a time gives None; one that is a time but a bad
one raises ``TimePhraseError`` with a message written for the operator.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")
DEFAULT_TIME = time(9, 0)  # "on Friday" means Friday morning
TONIGHT = time(20, 0)


class TimePhraseError(ValueError):
    """A time phrase we could read but cannot use; the message is written for the operator."""


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_TIME = _p(r"\b(?:at\s+)?(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)?(?=\s|$|[,.;:!?])")
AT_TIME = _p(r"\bat\s+(?P<clock>\d{1,2}(?:[:.h]\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)?|noon|midnight)(?=\s|$|[,.;:!?])")
_BARE_CLOCK = _p(
    r"(?<![\d-])(?P<clock>\d{1,2}(?:[:.h]\d{2}\s*(?:a\.?m\.?|p\.?m\.?)?|\s*(?:a\.?m\.?|p\.?m\.?)))(?=\s|$|[,;!?])"
)
_RELATIVE = _p(r"^in\s+(?P<n>an?|\d+(?:[.,]\d+)?)\s*(?P<unit>sec(?:ond)?s?|min(?:ute)?s?|hours?|hrs?|h|days?|weeks?)\b")
_DUE = _p(r"^(?P<title>.+?)\s+(?:by|due|before|on|until)\s+(?P<when>[^,]+)$")
_TRAILING_DUE = _p(r"^(?P<title>.+?)\s+(?P<when>(?:today|tonight|tomorrow|next \w+|in \d+ \w+)(?: at .+)?)$")
_DATE_HINT = _p(
    r"\b(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"next \w+|in \d+ \w+|\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}|"
    r"jan\w*|feb\w*|mar\w*|apr\w*|may|jun\w*|jul\w*|aug\w*|sep\w*|oct\w*|nov\w*|dec\w*)\b"
)


def _parse(
    text: str,
    *,
    base: datetime,
    prefer: Literal["future", "past", "current_period"] = "future",
    day_of_month: Literal["first", "last", "current"] = "current",
) -> datetime | None:
    """``dateparser`` with SoloOS's settings: English, relative to ``base`` (the operator's wall clock,
    naive). Returns a naive wall time, or None."""
    import dateparser  # slow to import; only phrases need it

    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": prefer,
        "PREFER_DAY_OF_MONTH": day_of_month,
        "RELATIVE_BASE": base.replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    found = dateparser.parse(text, languages=["en"], settings=settings)
    return found if isinstance(found, datetime) else None


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach the zone. A wall time that does not exist moves forward by the gap, as a wall clock
    does; an ambiguous one takes its first occurrence. Both are what ``fold=0`` means."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)


def clock(text: str) -> time:
    """ "8", "8am", "08:30", "8.30pm", "noon" → a time of day, or a clear error ("25:00")."""
    lowered = text.strip().lower()
    if lowered == "noon":
        return time(12, 0)
    if lowered == "midnight":
        return time(0, 0)
    match = _TIME.fullmatch(lowered) or _TIME.match(lowered)
    if not match:
        raise TimePhraseError(f"I can't read {text!r} as a time of day; say 9, 9:30 or 5pm.")
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    ampm = (match.group("ampm") or "").replace(".", "")
    if ampm and not 1 <= hour <= 12:
        raise TimePhraseError(f"{text} isn't a valid time of day: with am/pm the hour goes from 1 to 12.")
    if ampm == "pm" and hour != 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise TimePhraseError(f"{text} isn't a valid time of day; the clock goes from 00:00 to 23:59.")
    return time(hour, minute)


def clock_in(phrase: str) -> time:
    """The time of day in "at 07:30", "weekdays at 7am" or "7:30"."""
    found = AT_TIME.search(phrase) or _BARE_CLOCK.search(phrase) or re.fullmatch(r"(?P<clock>\d{1,2})", phrase.strip())
    if not found:
        raise TimePhraseError(f"I couldn't find a time of day in {phrase!r}.")
    return clock(found.group("clock"))


def offset(number: str, unit: str) -> timedelta:
    """ "2", "hours" → 2 h; "an", "hour" → 1 h."""
    amount = 1.0 if number.lower() in ("a", "an") else float(number.replace(",", "."))
    if amount <= 0:
        raise TimePhraseError("That offset is not in the future.")
    unit = unit.lower()
    if unit.startswith("s"):
        return timedelta(seconds=amount)
    if unit.startswith("min"):
        return timedelta(minutes=amount)
    if unit.startswith("h"):
        return timedelta(hours=amount)
    if unit.startswith("d"):
        return timedelta(days=amount)
    return timedelta(weeks=amount)


def moment(when: str, *, now: datetime, timezone: str, default_time: time = DEFAULT_TIME) -> datetime | None:
    """A time phrase → an aware instant; None when it is not one; ``TimePhraseError`` when it is a bad one.

    A clock time alone that has passed today means tomorrow; a day alone means ``default_time``;
    "today" alone needs a time of day."""
    tz = ZoneInfo(timezone)
    when = " ".join(when.split()).rstrip(",.")
    relative = _RELATIVE.match(when)
    if relative:
        if when[relative.end() :].strip():
            return None  # "in 2 hours to call" is split elsewhere
        # on the instant, not the wall clock: aware arithmetic in one zone would add wall time
        return now.astimezone(UTC) + offset(relative.group("n"), relative.group("unit"))
    at: time | None = None
    date_part = when
    found = AT_TIME.search(when) or _BARE_CLOCK.search(when)
    if found:
        at = clock(found.group("clock"))
        date_part = when[: found.start()] + " " + when[found.end() :]
    date_part = re.sub(r"^(?:on|at)\s+", "", " ".join(date_part.split()), flags=re.IGNORECASE)
    tonight = bool(re.fullmatch(r"tonight", date_part, re.IGNORECASE))
    local_now = now.astimezone(tz)
    if not date_part or tonight:
        day_ = local_now.date()
    else:
        parsed = _parse(date_part, base=local_now)
        if parsed is None:
            return None
        day_ = parsed.date()
        if at is None and day_ == local_now.date():
            raise TimePhraseError('At what time today? Say, for example, "remind me today at 4pm to …".')
    chosen = at or (TONIGHT if tonight else default_time)
    local = localize(datetime.combine(day_, chosen), tz)
    if not date_part and local <= now:  # "at 5pm" after 5pm means tomorrow
        local = localize(datetime.combine(day_ + timedelta(days=1), chosen), tz)
    return local


def day(text: str, *, today: date) -> date | None:
    """A day in the operator's words, preferring the future; a month alone means its last day."""
    found = _parse(text, base=datetime.combine(today, time(0)), day_of_month="last")
    return found.date() if found else None


def split_due(title: str, *, now: datetime, timezone: str) -> tuple[str, datetime | None]:
    """ "send invoice to Acme by Friday" → ("send invoice to Acme", next Friday). Dates only when clear;
    a day without a time of day is due at its start on the operator's clock."""
    tz = ZoneInfo(timezone)
    for match in (_DUE.match(title), _TRAILING_DUE.match(title)):
        if not match or not _DATE_HINT.search(match.group("when")):
            continue
        phrase = match.group("when")
        found = AT_TIME.search(phrase) or _BARE_CLOCK.search(phrase)
        at = clock(found.group("clock")) if found else None
        rest = phrase[: found.start()] + " " + phrase[found.end() :] if found else phrase
        rest = " ".join(rest.split())
        local_now = now.astimezone(tz)
        parsed = _parse(rest, base=local_now) if rest else local_now.replace(tzinfo=None)
        if parsed is None:
            continue
        wall = datetime.combine(parsed.date(), at) if at else parsed
        if rest == "tonight" and at is None:
            wall = datetime.combine(parsed.date(), TONIGHT)
        return match.group("title").strip(), localize(wall, tz).astimezone(UTC)
    return title, None


def instant(text: str, *, now: datetime) -> datetime | None:
    """Any date or moment in words ("2026-01-31", "3 weeks ago", "in 30 days"), aware, relative to
    ``now`` (UTC wall clock)."""
    found = _parse(text, base=now.astimezone(UTC), prefer="current_period")
    return found.replace(tzinfo=UTC) if found else None


__all__ = [
    "AT_TIME",
    "DEFAULT_TIME",
    "TimePhraseError",
    "clock",
    "clock_in",
    "day",
    "instant",
    "localize",
    "moment",
    "offset",
    "split_due",
]
