"""Reminders in natural language → a fire time or a recurring rule, with no model.

"remind me tomorrow at 9 to call Acme", "every Monday at 8am review invoices", "in 2 hours check
the deploy". One-off dates go through ``dateparser``; relative offsets ("in 2 hours") are exact
arithmetic on the instant, so they are right across a DST change; recurring rules are 5-field
crontab strings with named weekdays, which APScheduler evaluates in the operator's time zone.
Anything we cannot read becomes a ``ReminderError`` whose message tells the operator what to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

MAX_AHEAD = timedelta(days=5 * 366)
DEFAULT_TIME = time(9, 0)  # "remind me on Friday to …" means Friday morning
EXAMPLES = 'for example "remind me tomorrow at 9 to call Acme" or "every Monday at 8am review invoices"'
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReminderError(ValueError):
    """A reminder we could not set; the message is written for the operator."""


@dataclass(frozen=True)
class ReminderPlan:
    body: str
    fire_at: datetime | None  # one-off, aware UTC
    crontab: str | None  # recurring: "minute hour day month day_of_week"


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_PREFIX = _p(r"^\s*(?:/remind(?:@\w+)?|remind me|reminder:?|set (?:a )?reminder(?: for)?)\b\s*")
_TIME = _p(r"\b(?:at\s+)?(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)?(?=\s|$|[,.;:!?])")
_AT_TIME = _p(r"\bat\s+(?P<clock>\d{1,2}(?:[:.h]\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)?|noon|midnight)(?=\s|$|[,.;:!?])")
_BARE_CLOCK = _p(
    r"(?<![\d-])(?P<clock>\d{1,2}(?:[:.h]\d{2}\s*(?:a\.?m\.?|p\.?m\.?)?|\s*(?:a\.?m\.?|p\.?m\.?)))(?=\s|$|[,;!?])"
)
_RELATIVE = _p(r"^in\s+(?P<n>an?|\d+(?:[.,]\d+)?)\s*(?P<unit>sec(?:ond)?s?|min(?:ute)?s?|hours?|hrs?|h|days?|weeks?)\b")
_EVERY = _p(
    r"^(?:every|each)\s+(?P<period>"
    r"(?:other|second|\d+(?:st|nd|rd|th)?)\s+\w+|"
    r"day|morning|evening|night|weekday|working day|business day|weekend|hour|"
    r"month(?:\s+on\s+the\s+\d{1,2}(?:st|nd|rd|th)?)?|"
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day)(?:s)?"
    r"(?:\s*(?:,|and|&)\s*(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day)s?)*"
    r")\b"
)
_MONTHLY = _p(r"^month(?:\s+on\s+the\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?)?$")
_WHEN_START = _p(
    r"\b(?:in\s+(?:an?|\d)|at\s+\d|at\s+(?:noon|midnight)|on\s+|tomorrow|today|tonight|yesterday|next\s+|this\s+"
    r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}|\d{1,2}(?:st|nd|rd|th)?\s+"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"
)
_BODY_LEAD = _p(r"^(?:to|that|about|of|:|-|,)\s*")


def parse_reminder(text: str, *, now: datetime, timezone: str) -> ReminderPlan:
    """Read one reminder request. ``now`` is aware; the result is in UTC or a crontab in ``timezone``."""
    rest = _PREFIX.sub("", text.strip(), count=1).strip().rstrip(".!")
    if not rest:
        raise ReminderError(f"What should I remind you of, and when? Say it in one message, {EXAMPLES}.")
    if _EVERY.match(rest):
        return _recurring(rest)
    return _one_off(rest, now=now, tz=ZoneInfo(timezone))


# -- one-off --------------------------------------------------------------------------------------


def _one_off(rest: str, *, now: datetime, tz: ZoneInfo) -> ReminderPlan:
    """Try each place the time phrase could start (front or back); the first reading that parses wins."""
    problem: ReminderError | None = None
    for when, body in _splits(rest):
        try:
            fire_at = _parse_when(when, now=now, tz=tz)
        except ReminderError as err:
            problem = problem or err
            continue
        if fire_at is None:
            continue
        body = _BODY_LEAD.sub("", body.strip()).strip()
        if not body:
            raise ReminderError(
                f"What should I remind you of at {_local(fire_at, tz)}? Say it in one message, {EXAMPLES}."
            )
        if fire_at <= now:
            raise ReminderError(
                f"{_local(fire_at, tz)} has already passed, so I can't remind you then. When should it be?"
            )
        if fire_at - now > MAX_AHEAD:
            raise ReminderError("That is more than five years away; I set reminders up to five years ahead.")
        return ReminderPlan(body=body, fire_at=fire_at.astimezone(ZoneInfo("UTC")), crontab=None)
    if problem:
        raise problem
    raise ReminderError(f"I couldn't tell when to remind you. Add a time, {EXAMPLES}.")


def _splits(rest: str) -> list[tuple[str, str]]:
    """(when, body) candidates, longest time phrase first: "tomorrow at 9 to call Acme" and
    "call Acme tomorrow at 9"."""
    candidates: list[tuple[str, str]] = []
    lead = re.match(r"^(?P<when>.+?)\s*(?:\bto\b|:|,|\bthat\b|\babout\b)\s+(?P<body>.+)$", rest, re.IGNORECASE)
    if lead and _WHEN_START.match(lead.group("when")):
        candidates.append((lead.group("when"), lead.group("body")))
    candidates += [(rest[m.start() :], rest[: m.start()]) for m in _WHEN_START.finditer(rest)]
    return candidates


def _parse_when(when: str, *, now: datetime, tz: ZoneInfo) -> datetime | None:
    """A time phrase → an aware instant, None when it is not one, ReminderError when it is a bad one."""
    when = " ".join(when.split()).rstrip(",.")
    relative = _RELATIVE.match(when)
    if relative:
        if when[relative.end() :].strip():
            return None  # "in 2 hours to call" is split elsewhere
        # on the instant, not the wall clock: aware arithmetic in one zone would add wall time
        return now.astimezone(ZoneInfo("UTC")) + _offset(relative.group("n"), relative.group("unit"))
    clock: time | None = None
    date_part = when
    found = _AT_TIME.search(when) or _BARE_CLOCK.search(when)
    if found:
        clock = _clock(found.group("clock"))
        date_part = when[: found.start()] + " " + when[found.end() :]
    date_part = re.sub(r"^(?:on|at)\s+", "", " ".join(date_part.split()), flags=re.IGNORECASE)
    tonight = bool(re.fullmatch(r"tonight", date_part, re.IGNORECASE))
    local_now = now.astimezone(tz)
    if not date_part or tonight:
        day = local_now.date()
    else:
        import dateparser

        parsed = dateparser.parse(
            date_part,
            languages=["en"],
            settings={"PREFER_DATES_FROM": "future", "RELATIVE_BASE": local_now.replace(tzinfo=None)},
        )
        if parsed is None:
            return None
        day = parsed.date()
        if clock is None and day == local_now.date() and not tonight:
            raise ReminderError('At what time today? Say, for example, "remind me today at 4pm to …".')
    chosen = clock or (time(20, 0) if tonight else DEFAULT_TIME)
    local = _localize(datetime.combine(day, chosen), tz)
    if not date_part and local <= now:  # "at 5pm" after 5pm means tomorrow
        local = _localize(datetime.combine(day + timedelta(days=1), chosen), tz)
    return local


def _offset(number: str, unit: str) -> timedelta:
    amount = 1.0 if number.lower() in ("a", "an") else float(number.replace(",", "."))
    if amount <= 0:
        raise ReminderError("That offset is not in the future.")
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


def _clock(text: str) -> time:
    """ "8", "8am", "08:30", "8.30pm", "noon" → a time of day, or a clear error ("25:00")."""
    lowered = text.strip().lower()
    if lowered == "noon":
        return time(12, 0)
    if lowered == "midnight":
        return time(0, 0)
    match = _TIME.fullmatch(lowered) or _TIME.match(lowered)
    if not match:
        raise ReminderError(f"I can't read {text!r} as a time of day; say 9, 9:30 or 5pm.")
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    ampm = (match.group("ampm") or "").replace(".", "")
    if ampm and not 1 <= hour <= 12:
        raise ReminderError(f"{text} isn't a valid time of day: with am/pm the hour goes from 1 to 12.")
    if ampm == "pm" and hour != 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise ReminderError(f"{text} isn't a valid time of day; the clock goes from 00:00 to 23:59.")
    return time(hour, minute)


def _localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach the zone. A wall time that does not exist (the hour skipped when clocks go forward)
    moves forward by the gap, as a wall clock does; an ambiguous one (the hour repeated when clocks
    go back) takes its first occurrence. Both are what ``fold=0`` means."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(ZoneInfo("UTC")).astimezone(tz)


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


# -- recurring ------------------------------------------------------------------------------------


def _recurring(rest: str) -> ReminderPlan:
    every = _EVERY.match(rest)
    assert every is not None
    period = " ".join(every.group("period").lower().split())
    tail = rest[every.end() :]
    at = _AT_TIME.search(tail)
    clock: time | None = None
    if at:
        clock = _clock(at.group("clock"))
        tail = tail[: at.start()] + " " + tail[at.end() :]
    body = _BODY_LEAD.sub("", " ".join(tail.split())).strip()
    if not body:
        raise ReminderError(f"What should I remind you of {rest.strip()}? Say it in one message, {EXAMPLES}.")
    crontab = _crontab(period, clock)
    return ReminderPlan(body=body, fire_at=None, crontab=crontab)


def _crontab(period: str, clock: time | None) -> str:
    def at(default: time) -> str:
        chosen = clock or default
        return f"{chosen.minute} {chosen.hour}"

    if period.split()[0] in ("other", "second") or re.match(r"^\d", period):
        raise ReminderError(
            f"I can repeat a reminder every day, weekday, weekend, given weekdays, month or hour, but not every "
            f"{period}. Set a one-off reminder, or a weekly one and skip the weeks you don't need."
        )
    if period == "hour":
        if clock is not None:
            raise ReminderError("An hourly reminder runs on the hour; leave out the time of day.")
        return "0 * * * *"
    if period in ("day", "night"):
        return f"{at(DEFAULT_TIME if period == 'day' else time(21, 0))} * * *"
    if period == "morning":
        return f"{at(time(8, 0))} * * *"
    if period == "evening":
        return f"{at(time(18, 0))} * * *"
    if period in ("weekday", "working day", "business day"):
        return f"{at(DEFAULT_TIME)} * * mon-fri"
    if period == "weekend":
        return f"{at(time(10, 0))} * * sat,sun"
    monthly = _MONTHLY.match(period)
    if monthly:
        day = int(monthly.group("day") or 1)
        if not 1 <= day <= 31:
            raise ReminderError(f"A month has no day {day}; pick a day from 1 to 31.")
        return f"{at(DEFAULT_TIME)} {day} * *"
    days = [d for d in WEEKDAYS if re.search(rf"\b{d[:3]}", period)]
    return f"{at(DEFAULT_TIME)} * * {','.join(d[:3] for d in days)}"


def describe_rule(crontab: str) -> str:
    """ "30 8 * * mon,thu" → "every Monday and Thursday at 08:30"."""
    minute, hour, day, _month, dow = crontab.split()
    clock = "on the hour" if hour == "*" else f"at {int(hour):02d}:{int(minute):02d}"
    if hour == "*":
        return "every hour, on the hour"
    if day != "*":
        return f"every month on day {day} {clock}"
    if dow == "*":
        return f"every day {clock}"
    if dow == "mon-fri":
        return f"every weekday {clock}"
    if dow == "sat,sun":
        return f"every weekend day {clock}"
    names = [next(w for w in WEEKDAYS if w.startswith(d)).capitalize() for d in dow.split(",")]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"every {joined} {clock}"


def clock_of(phrase: str) -> time:
    """The time of day in "at 07:30", "weekdays at 7am" or "7:30"."""
    found = _AT_TIME.search(phrase) or _BARE_CLOCK.search(phrase) or re.fullmatch(r"(?P<clock>\d{1,2})", phrase.strip())
    if not found:
        raise ReminderError(f"I couldn't find a time of day in {phrase!r}.")
    return _clock(found.group("clock"))


class WallClockCron(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """A crontab evaluated on the wall clock of a time zone.

    APScheduler 3.11's own ``CronTrigger`` fires a 02:30 rule twice on the night clocks go back
    (once in each pass of the repeated hour) and then keeps returning the same instant; found by
    tests/agents/test_reminders.py. Here the rule runs on naive wall time, and each wall time maps
    to one instant: the first pass of a repeated hour, and a time skipped when clocks go forward
    moves forward by the gap, as a wall clock does.
    """

    __slots__ = ("_wall", "crontab", "timezone")

    def __init__(self, crontab: str, timezone: str) -> None:
        self.crontab = crontab
        self.timezone = timezone
        self._wall = CronTrigger.from_crontab(crontab, timezone=ZoneInfo("UTC"))  # wall time labelled UTC

    def __getstate__(self) -> dict[str, str]:
        return {"crontab": self.crontab, "timezone": self.timezone}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["crontab"], state["timezone"])  # type: ignore[misc]

    def __str__(self) -> str:
        return f"cron[{self.crontab}] in {self.timezone}"

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire time after ``previous_fire_time``, or at or after ``now`` when there is none."""
        tz = ZoneInfo(self.timezone)
        start = previous_fire_time + timedelta(microseconds=1) if previous_fire_time else now
        wall = start.astimezone(tz).replace(tzinfo=ZoneInfo("UTC"))
        for _ in range(4):  # at most one skip per DST change
            candidate: datetime | None = self._wall.get_next_fire_time(None, wall)
            if candidate is None:
                return None
            instant = _localize(candidate.replace(tzinfo=None), tz).astimezone(ZoneInfo("UTC"))
            if instant >= start:
                return instant
            wall = candidate + timedelta(seconds=1)
        return None


def trigger(crontab: str, timezone: str) -> WallClockCron:
    return WallClockCron(crontab, timezone)


def next_fire(crontab: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, DST-correct in ``timezone``."""
    fire = trigger(crontab, timezone).get_next_fire_time(after, after)
    assert fire is not None  # a crontab with named fields always fires again
    return fire
