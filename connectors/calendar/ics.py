"""iCalendar (.ics) → canonical events, through ``icalendar`` (parsing, time zones) and
``recurring_ical_events`` (RRULE/RDATE/EXDATE and moved occurrences; it comes with ``caldav``).

``parse_ics(text, …)`` turns one calendar text into ``NewEvent`` records and a problem line for
every VEVENT it had to quarantine; the CalDAV connector uses it for each object it fetches and
``import_ics(path, memory, workspace)`` for a file, which it writes in ONE transaction.

Decisions:
- Times are stored in UTC. ``TZID`` zones come from the file's VTIMEZONE or the IANA database
  (Windows zone names are mapped by ``icalendar``); a TZID neither knows is a problem, not a guess.
  Floating times (no zone) are read in the calendar's ``X-WR-TIMEZONE``, else in ``timezone``.
- All-day events (``VALUE=DATE``) are stored as midnight UTC of their first day and of the day after
  their last, with ``all_day`` set; readers place them on the operator's local calendar.
- Recurring series are expanded within ``window``; each occurrence is a row whose ``external_id`` is
  ``UID#<original start>``, so re-importing updates it. A series repeating more often than hourly,
  or more than ``MAX_OCCURRENCES`` times in the window, is quarantined rather than flooding the table
  (and rather than costing minutes: expansion walks a rule from its DTSTART, so an hourly series
  started in 1990 takes about two seconds, the worst case that is still accepted).
- A series is all or nothing: when one of its VEVENTs is broken the whole UID is quarantined, and
  the rows an earlier import stored for it are kept.
- ``STATUS:CANCELLED`` events and occurrences are not stored (an earlier copy is removed).
- A file over ``MAX_FILE_BYTES`` is refused by its size before it is read, a text with more than
  ``MAX_EVENTS`` VEVENTs before it is parsed, and one whose series expand past ``MAX_EVENTS`` rows
  while they are expanded: a 100,000-event file once took 1.16 GB of memory. Nothing is imported.
- A VEVENT without a UID gets a stable one derived from its title and start, so re-importing it
  is still recognised.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from connectors.base import ReadReport
from connectors.checks import EARLIEST_DATE, MAX_LOCATION_CHARS
from connectors.errors import IcsError
from memory import MAX_TITLE_CHARS, Clock, NewEvent

if TYPE_CHECKING:
    from memory import MemoryService

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_OCCURRENCES = 1_000  # per series and window
MAX_EVENTS = 20_000  # VEVENTs in one text, and rows from one text: eight a working day for ten years
MAX_REPORTED_PROBLEMS = 20
LATEST_YEARS_AHEAD = 10
DEFAULT_PAST = timedelta(days=90)  # recurring series are expanded this far back by an import…
DEFAULT_AHEAD = timedelta(days=365)  # …and this far ahead
ICS_SOURCE = "ics"
_TOO_FREQUENT = frozenset({"SECONDLY", "MINUTELY"})
_SUB_HOUR = ("BYMINUTE", "BYSECOND")
_VEVENT = re.compile(r"^BEGIN:VEVENT\s*$", re.IGNORECASE | re.MULTILINE)
_ONCE = ("UID", "SUMMARY", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "STATUS", "TRANSP", "LOCATION")


@dataclass(frozen=True)
class ParsedCalendar:
    events: tuple[NewEvent, ...]
    problems: tuple[str, ...]  # one line per quarantined series, for the operator
    uids: frozenset[str]  # series read completely (cancelled ones too): their stored rows are replaced
    quarantined_uids: frozenset[str]  # series with a broken VEVENT: their stored rows are kept


def zone_named(name: str) -> ZoneInfo:
    """An IANA time zone, or ``ValueError`` naming the bad name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"{name!r} is not a time zone name such as Europe/Berlin") from err


def read_ics(path: Path) -> str:
    """The text of an .ics file, or ``IcsError`` naming the file and what is wrong with it."""
    try:
        with path.open("rb") as handle:
            _refuse_oversized(path, os.fstat(handle.fileno()).st_size)
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may grow after its size was checked
    except OSError as err:
        raise IcsError(f"cannot read {path.name}: {err.strerror or err}") from err
    _refuse_oversized(path, len(data))
    if b"\x00" in data:
        raise IcsError(f"{path.name} is a binary file, not an iCalendar (.ics) file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # old exports; the structure is ASCII either way


def _refuse_oversized(path: Path, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise IcsError(
            f"{path.name} is {size / 1_048_576:.1f} MB; SoloOS imports calendars up to {MAX_FILE_BYTES // 1_048_576} MB"
        )


def parse_ics(
    text: str,
    *,
    window: tuple[datetime, datetime],
    now: datetime,
    timezone: str = "UTC",
    name: str = "calendar",
) -> ParsedCalendar:
    """Canonical events of every VEVENT in ``text``; recurring series expanded within ``window``.

    Raises ``IcsError`` (naming ``name``) when the text is not iCalendar at all; a broken VEVENT
    only quarantines its series.
    """
    count = sum(1 for _ in _VEVENT.finditer(text))
    if count > MAX_EVENTS:
        raise IcsError(
            f"{name} holds {count:,} events; SoloOS imports calendars of up to {MAX_EVENTS:,} events: "
            "export a shorter period"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calendars = _calendars(text, name)
        reader = _Reader(window, now, zone_named(timezone), name)
        return reader.read(calendars)


def _calendars(text: str, name: str) -> list[icalendar.Calendar]:
    if "BEGIN:VCALENDAR" not in text.upper():
        raise IcsError(f"{name} is not an iCalendar (.ics) file (it has no BEGIN:VCALENDAR); export it as .ics")
    try:
        parsed = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise IcsError(f"{name} is not a readable iCalendar file: {_short(err)}") from err
    calendars = [c for c in parsed if isinstance(c, icalendar.Calendar) and c.name == "VCALENDAR"]
    if not calendars:
        raise IcsError(f"{name} is not an iCalendar (.ics) file: it holds no VCALENDAR")
    return calendars


def _short(err: BaseException | str, limit: int = 200) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Broken(Exception):
    """A series that must be quarantined, with everything wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))


class _Reader:
    """Turns VEVENTs into ``NewEvent`` records, one series (UID) at a time."""

    def __init__(self, window: tuple[datetime, datetime], now: datetime, floating: tzinfo, name: str) -> None:
        if window[0].tzinfo is None or window[1].tzinfo is None or now.tzinfo is None:
            raise ValueError("window and now must be aware datetimes")
        self.window = (window[0].astimezone(UTC), window[1].astimezone(UTC))
        self.earliest = datetime.combine(EARLIEST_DATE, time(), UTC)
        self.latest = now.astimezone(UTC) + timedelta(days=round(365.25 * LATEST_YEARS_AHEAD))
        self.default_zone = self.floating = floating
        self.name = name

    def read(self, calendars: list[icalendar.Calendar]) -> ParsedCalendar:
        events: dict[str, NewEvent] = {}
        problems: list[str] = []
        good: set[str] = set()
        bad: set[str] = set()
        for calendar in calendars:
            self.floating = _calendar_zone(calendar) or self.default_zone
            for uid, series in _series(calendar):
                try:
                    found = self._series_events(uid, [c for _, c in series])
                except _Broken as err:
                    bad.add(uid)
                    problems.append(f"{_describe(series, uid)}: {err}")
                except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as err:
                    bad.add(uid)  # icalendar met something its own checks let through
                    problems.append(f"{_describe(series, uid)}: cannot be read ({_short(err)})")
                else:
                    good.add(uid)
                    events.update((e.external_id, e) for e in found)
                    if len(events) > MAX_EVENTS:
                        raise IcsError(
                            f"{self.name} expands to more than {MAX_EVENTS:,} events in the imported period; "
                            f"SoloOS imports calendars of up to {MAX_EVENTS:,} events: export a shorter period"
                        )
        return ParsedCalendar(tuple(events.values()), tuple(problems), frozenset(good - bad), frozenset(bad))

    def _series_events(self, uid: str, components: list[icalendar.Event]) -> list[NewEvent]:
        problems = [p for component in components for p in self._problems(component)]
        if problems:
            raise _Broken(problems)
        if any("RRULE" in c or "RDATE" in c for c in components):
            return self._expand(uid, components)
        return [e for c in components if (e := self._event(uid, c, c.start, c.end)) is not None]

    def _problems(self, event: icalendar.Event) -> list[str]:
        problems = [f"{prop} is not valid ({_short(message, 120)})" for prop, message in event.errors]
        problems += [f"{prop} appears more than once" for prop in _ONCE if isinstance(event.get(prop), list)]
        if problems:
            return problems
        if not _title(event):
            problems.append("it has no title (SUMMARY)")
        if "DTSTART" not in event:
            return [*problems, "it has no start (DTSTART)"]
        if "DTEND" in event and "DURATION" in event:
            return [*problems, "it has both an end (DTEND) and a DURATION"]
        if "DTEND" in event and _timed(_first(event, "DTSTART")) != _timed(_first(event, "DTEND")):
            return [*problems, "its start and end mix a date and a time of day"]
        for prop in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            value = event.get(prop)
            tzid = value.params.get("TZID") if value is not None else None
            if tzid and isinstance(value.dt, datetime) and value.dt.tzinfo is None:
                problems.append(f"{prop} uses the unknown time zone {tzid!r}")
        if any(_too_frequent(rule) for rule in _rules(event)):
            problems.append("it repeats more often than hourly, which is not a calendar event")
        start, end = event.start, event.end
        if self._utc(end) < self._utc(start):
            problems.append(f"it ends ({_when(end)}) before it starts ({_when(start)})")
        recurring = "RRULE" in event or "RDATE" in event
        if not recurring and self._utc(start) < self.earliest:
            problems.append(f"it starts on {_when(start)}, before {EARLIEST_DATE.year}")
        if self._utc(start) > self.latest or (not recurring and self._utc(end) > self.latest):
            problems.append(f"it is more than {LATEST_YEARS_AHEAD} years ahead ({_when(start)})")
        return problems

    def _expand(self, uid: str, components: list[icalendar.Event]) -> list[NewEvent]:
        calendar = icalendar.Calendar()
        for component in components:
            calendar.add_component(component)
        # One query over the whole window: the expansion walks the rule from DTSTART on every call.
        occurrences = recurring_ical_events.of(calendar).between(*self.window)
        if len(occurrences) > MAX_OCCURRENCES:
            raise _Broken([f"it repeats more than {MAX_OCCURRENCES} times in the imported period"])
        return [e for o in occurrences if (e := self._event(uid, o, o.start, o.end)) is not None]

    def _event(self, uid: str, component: icalendar.Event, start: date, end: date) -> NewEvent | None:
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            return None
        recurrence = component.get("RECURRENCE-ID")
        external_id = uid if recurrence is None else f"{uid}#{_instant(self._utc(recurrence.dt), recurrence.dt)}"
        location = " ".join(str(component.get("LOCATION", "")).split())[:MAX_LOCATION_CHARS] or None
        return NewEvent(
            uid=uid,
            external_id=external_id,
            title=_title(component),
            starts_at=self._utc(start),
            ends_at=max(self._utc(start), self._utc(end)),
            all_day=not isinstance(start, datetime),
            location=location,
            busy=str(component.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT",
        )

    def _utc(self, moment: date) -> datetime:
        if not isinstance(moment, datetime):
            return datetime.combine(moment, time(), UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.floating)
        return moment.astimezone(UTC)


def _rules(event: icalendar.Event) -> list[icalendar.vRecur]:
    rules = event.get("RRULE")
    return [] if rules is None else rules if isinstance(rules, list) else [rules]


def _too_frequent(rule: icalendar.vRecur) -> bool:
    """Every minute or second, or several times within an hour (which also keeps expansion cheap)."""
    return bool(set(rule.get("FREQ", ())) & _TOO_FREQUENT) or any(len(rule.get(p, ())) > 1 for p in _SUB_HOUR)


def _when(moment: date) -> str:
    if not isinstance(moment, datetime):
        return moment.isoformat()
    zone = getattr(moment.tzinfo, "key", None) or (moment.tzname() if moment.tzinfo else None) or "floating"
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


def _instant(utc: datetime, original: date) -> str:
    return original.isoformat() if not isinstance(original, datetime) else utc.strftime("%Y%m%dT%H%M%SZ")


def _title(component: icalendar.Event) -> str:
    title = " ".join(str(_first(component, "SUMMARY")).split())
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


def _calendar_zone(calendar: icalendar.Calendar) -> tzinfo | None:
    name = str(calendar.get("X-WR-TIMEZONE", "")).strip()
    try:
        return zone_named(name) if name else None
    except ValueError:
        return None


def _series(calendar: icalendar.Calendar) -> Iterator[tuple[str, list[tuple[int, icalendar.Event]]]]:
    """VEVENTs grouped by UID (a series: its master and moved occurrences), numbered from 1."""
    groups: dict[str, list[tuple[int, icalendar.Event]]] = {}
    events = [c for c in calendar.walk("VEVENT") if isinstance(c, icalendar.Event)]
    for number, component in enumerate(events, 1):
        groups.setdefault(_uid(component), []).append((number, component))
    yield from groups.items()


def _uid(component: icalendar.Event) -> str:
    uid = " ".join(str(_first(component, "UID")).split())
    if uid:
        return uid[:500]
    start = _first(component, "DTSTART")
    seed = f"{_first(component, 'SUMMARY')}\x1f{start.to_ical().decode() if start else ''}"
    return "derived-" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def _timed(value: Any) -> bool:
    return isinstance(value.dt, datetime)


def _first(component: icalendar.Event, prop: str) -> Any:
    """A property's value, or its first value when a broken file repeats it ("" when absent)."""
    value = component.get(prop, "")
    return value[0] if isinstance(value, list) and value else value


def _describe(series: list[tuple[int, icalendar.Event]], uid: str) -> str:
    number, first = series[0]
    title = _title(first)
    return f"VEVENT {number}" + (f" {title[:80]!r}" if title else "") + f" (UID {uid[:80]})"


async def import_ics(
    path: Path,
    memory: MemoryService,
    workspace: str,
    *,
    timezone: str = "UTC",
    now: datetime | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> ReadReport:
    """Import an .ics file into the workspace's events in one transaction; re-importing updates.

    ``timezone`` reads floating times; recurring series are expanded within ``window`` (default:
    ``DEFAULT_PAST`` before ``now``, itself by default from ``memory.Clock``, to ``DEFAULT_AHEAD``
    after it). Raises ``IcsError`` when the file is not iCalendar; broken VEVENTs are reported in the
    result, the others are imported.
    """
    now = now or Clock().now()
    window = window or (now - DEFAULT_PAST, now + DEFAULT_AHEAD)
    text = await asyncio.to_thread(read_ics, path)
    parsed = await asyncio.to_thread(parse_ics, text, window=window, now=now, timezone=timezone, name=path.name)
    changes = await memory.records.sync_events(
        parsed.events,
        workspace=workspace,
        source=ICS_SOURCE,
        replace_uids=parsed.uids,
        keep_uids=parsed.quarantined_uids,
    )
    return ReadReport(
        imported=changes.inserted + changes.updated,
        duplicates=changes.unchanged,
        quarantined=len(parsed.problems),
        problems=parsed.problems[:MAX_REPORTED_PROBLEMS],
    )


__all__ = [
    "MAX_EVENTS",
    "MAX_FILE_BYTES",
    "MAX_REPORTED_PROBLEMS",
    "ParsedCalendar",
    "import_ics",
    "parse_ics",
    "read_ics",
    "zone_named",
]
