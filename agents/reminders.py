"""Reminders in natural language → a fire time or a recurring rule, with no model.

"remind me tomorrow at 9 to call Acme", "every Monday at 8am review invoices", "in 2 hours check
the deploy". The time phrase of a one-off reminder is read by ``agents.when`` (the one time-phrase
parser); here we find where it starts and what the reminder is about. Recurring rules are 5-field
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

from agents import when
from agents.when import DEFAULT_TIME, TimePhraseError, localize

MAX_AHEAD = timedelta(days=5 * 366)
EXAMPLES = 'for example "remind me tomorrow at 9 to call Acme" or "every Monday at 8am review invoices"'
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReminderError(TimePhraseError):
    """A reminder we could not set; the message is written for the operator."""


@dataclass(frozen=True)
class ReminderPlan:
    body: str
    fire_at: datetime | None  # one-off, aware UTC
    crontab: str | None  # recurring: "minute hour day month day_of_week"


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_PREFIX = _p(r"^\s*(?:/remind(?:@\w+)?|remind me|reminder:?|set (?:a )?reminder(?: for)?)\b\s*")
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
    for phrase, body in _splits(rest):
        try:
            fire_at = when.moment(phrase, now=now, timezone=tz.key)
        except TimePhraseError as err:
            problem = problem or ReminderError(str(err))
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


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


# -- recurring ------------------------------------------------------------------------------------


def _recurring(rest: str) -> ReminderPlan:
    every = _EVERY.match(rest)
    assert every is not None
    period = " ".join(every.group("period").lower().split())
    tail = rest[every.end() :]
    at = when.AT_TIME.search(tail)
    clock: time | None = None
    if at:
        clock = when.clock(at.group("clock"))
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
            instant = localize(candidate.replace(tzinfo=None), tz).astimezone(ZoneInfo("UTC"))
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
