"""The calendar connector: CalDAV read/write through the ``caldav`` library, and free slots.

Two layers, as for every connector: ``_CalDAV`` wraps the blocking ``caldav`` client (run in
``asyncio.to_thread``, one call at a time) and translates its exceptions into ``CalendarError``
with a message for the operator; ``CalendarConnector`` maps what it fetches into canonical events
(``connectors.ics.parse_ics``) and carries out the writes the policy gate allowed.

- ``read`` mirrors the calendar into the ``events`` table for a window (``past`` before now to
  ``ahead`` after it): new and changed events are upserted, events deleted on the server (or
  cancelled) are removed. A VEVENT that fails validation is quarantined and its stored copy kept;
  when a server object cannot be parsed at all, nothing is removed in that sync.
- ``write`` handles ``event.create`` (args ``title``, ``starts_at``, ``ends_at`` as ISO 8601 with an
  offset or with a ``timezone`` arg, optional ``location`` and ``attendee``) and ``event.delete`` (arg
  ``uid``). The created event's UID is derived from the idempotency key, so a retried write finds the
  event it already made instead of adding a second one.
- ``flush`` carries out what the policy gate recorded (``calendar.create`` in ``connectors.local``):
  'pending' events are created on the server with the gate's key, then handed to the sync (source
  'caldav', same UID), so ``read`` updates that one row instead of adding a copy; events undone after
  they reached the server ('cancelled') are deleted there and then here. When the server cannot be
  used the row keeps its status and the reason (``push_error``), and the next flush tries again.
- ``undo`` executes the handles ``write`` returns (``calendar.event.delete``,
  ``calendar.event.restore``).
- ``free_slots`` proposes free time from the canonical events (any connector's, and imported
  ``.ics`` files), so it works without a server round trip.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import icalendar
from caldav.calendarobjectresource import CalendarObjectResource
from caldav.collection import Calendar
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.base import Capability, Connector, Health, ReadReport
from connectors.effects import MAX_EVENT_AHEAD, MAX_EVENT_LENGTH, MAX_LOCATION_CHARS, Outcome, event_uid
from connectors.errors import ConnectorError
from connectors.ics import MAX_REPORTED_PROBLEMS, IcsError, import_ics, parse_ics, zone_named
from memory import MAX_TITLE_CHARS, NewEvent
from policies.engine import Action

if TYPE_CHECKING:
    from memory import Database, MemoryService

log = logging.getLogger(__name__)

CALDAV_SOURCE = "caldav"
SETUP_HINT = "then run `soloos connect calendar` again"
T = TypeVar("T")


class CalendarError(ConnectorError):
    """The CalDAV server could not be used; the message says why and what to do."""


class CalendarConfig(BaseModel):
    """What ``soloos connect calendar`` asks for. ``calendar`` is a display name (or the last part
    of the calendar's address); without it the account's first calendar is used. ``timezone`` reads
    events stored without one (floating times)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    calendar: str | None = None
    timezone: str = "UTC"

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) address such as https://cal.example.com/dav/")
        return url.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        zone_named(name)
        return name


@dataclass(frozen=True)
class SyncReport(ReadReport):
    removed: int = 0  # events deleted or cancelled on the server, removed locally


# -- the raw client --------------------------------------------------------------------------------


class _CalDAV:
    """The blocking ``caldav`` client for one account and calendar; call it from a worker thread."""

    def __init__(self, config: CalendarConfig, timeout: int) -> None:
        self.config = config
        self.timeout = timeout
        self._lock = threading.Lock()
        self._client: DAVClient | None = None
        self._calendar: Calendar | None = None

    def call(self, operation: Callable[[Calendar], T]) -> T:
        """Run ``operation`` on the configured calendar, with vendor errors translated."""
        with self._lock:
            try:
                return operation(self._find_calendar())
            except CalendarError:
                self._reset()
                raise
            except (dav_error.DAVError, OSError, ValueError) as err:  # OSError: niquests/requests failures
                self._reset()
                raise CalendarError(self._explain(err)) from err

    def calendar_name(self) -> str:
        """Find the calendar afresh (a health check must not trust an earlier answer) and name it."""
        with self._lock:
            self._calendar = None
        return self.call(_display_name)

    def close(self) -> None:
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client, self._calendar = None, None

    def _find_calendar(self) -> Calendar:
        if self._calendar is None:
            self._client = self._client or DAVClient(
                url=self.config.url,
                username=self.config.username,
                password=self.config.password.get_secret_value(),
                timeout=self.timeout,
                enable_rfc6764=False,  # the address is given; no DNS discovery
            )
            self._calendar = self._choose(list(_sync(self._client.get_principal().calendars())))
        return self._calendar

    def _choose(self, calendars: list[Calendar]) -> Calendar:
        user, wanted = self.config.username, self.config.calendar
        if not calendars:
            raise CalendarError(
                f"found no calendars for {user!r} at {self.config.url}: either the address is not the account's "
                f"CalDAV address or the account has no calendar yet (create one in your calendar app), {SETUP_HINT}"
            )
        if wanted is None:
            return calendars[0]
        for calendar in calendars:
            if wanted.casefold() in (_display_name(calendar).casefold(), _slug(calendar).casefold()):
                return calendar
        names = ", ".join(repr(_display_name(c)) for c in calendars)
        raise CalendarError(
            f"the account {user!r} has no calendar named {wanted!r}; it has {names}. "
            f"Set the calendar to one of these names, {SETUP_HINT}"
        )

    def _explain(self, err: Exception) -> str:
        where, user = self.config.url, self.config.username
        if isinstance(err, dav_error.AuthorizationError):
            if err.status == 403:
                return f"the CalDAV server at {where} does not let {user!r} use this calendar (403 forbidden)"
            return (
                f"the CalDAV server at {where} refused the login of {user!r}: wrong user name or password. "
                f"Check them (some providers need an app password), {SETUP_HINT}"
            )
        if isinstance(err, dav_error.NotFoundError):
            return f"there is no CalDAV calendar at {where} (404); check the address, {SETUP_HINT}"
        if isinstance(err, dav_error.DAVError):
            status = getattr(err, "status", None)
            if status in (405, 501):
                return f"the server at {where} does not speak CalDAV (HTTP {status}); check the address, {SETUP_HINT}"
            if isinstance(status, int) and status >= 500:
                return f"the CalDAV server at {where} has a problem (HTTP {status}); try again later"
            return f"the CalDAV server at {where} refused the request ({status or type(err).__name__})"
        if isinstance(err, OSError):
            if any(cls.__name__.endswith("Timeout") for cls in type(err).__mro__):
                return f"the CalDAV server at {where} did not answer within {self.timeout:g} s; try again later"
            return (
                f"cannot reach the CalDAV server at {where} ({_reason(err)}). "
                f"Check the address and that the server is running, {SETUP_HINT}"
            )
        return f"the server at {where} did not answer like a CalDAV server ({_reason(err)}); check the address"


def _sync(result: T | Coroutine[Any, Any, T]) -> T:
    """``caldav`` types its results as "value, or a coroutine with an async client"; ours is sync."""
    if isinstance(result, Coroutine):
        result.close()
        raise TypeError("the caldav client returned a coroutine; SoloOS uses the synchronous client")
    return result


def _display_name(calendar: Calendar) -> str:
    try:
        name = calendar.get_display_name()
    except dav_error.DAVError:
        name = None
    return str(name) if name else _slug(calendar)


def _slug(calendar: Calendar) -> str:
    return str(calendar.url).rstrip("/").rsplit("/", 1)[-1]


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    for marker in ("Connection refused", "Name or service not known", "No route to host", "certificate"):
        if marker.lower() in text.lower():
            return marker.lower()
    return text[:160] or type(err).__name__


# -- the driver ------------------------------------------------------------------------------------


class CalendarConnector:
    """CalDAV calendar: health, sync into ``events``, gated event writes, ICS import."""

    name: ClassVar[str] = "calendar"
    capabilities: ClassVar[Capability] = Capability.READ | Capability.SCHEDULE | Capability.IMPORT
    Config: ClassVar[type[BaseModel]] = CalendarConfig

    def __init__(
        self,
        config: CalendarConfig,
        *,
        db: Database | None = None,
        workspace: str | None = None,
        timeout: int = 15,
        past: timedelta = timedelta(days=30),
        ahead: timedelta = timedelta(days=180),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.db, self.workspace = db, workspace  # where gated writes are recorded (see ``flush``)
        self.past, self.ahead, self.clock = past, ahead, clock
        self._dav = _CalDAV(config, timeout)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._dav.close)

    async def health(self) -> Health:
        try:
            name = await asyncio.to_thread(self._dav.calendar_name)
        except CalendarError as err:
            return Health(ok=False, detail=str(err))
        except Exception as err:  # the contract: health never raises
            log.exception("calendar health check failed unexpectedly")
            return Health(ok=False, detail=f"the calendar check failed unexpectedly ({type(err).__name__}: {err})")
        return Health(ok=True, detail=f"connected to {self.config.url} as {self.config.username!r}; calendar {name!r}")

    async def read(self, memory: MemoryService, workspace: str) -> SyncReport:
        """Mirror the server's events of the sync window into ``events``."""
        now = self.clock()
        window = (now - self.past, now + self.ahead)
        fetch = (window[0] - timedelta(days=1), window[1] + timedelta(days=1))  # removal stays inside what was read
        objects = await asyncio.to_thread(self._dav.call, lambda cal: _fetch(cal, fetch))
        events: dict[str, NewEvent] = {}
        problems: list[str] = []
        quarantined: set[str] = set()
        unreadable = False
        for href, text in objects:
            try:
                parsed = parse_ics(text, window=fetch, now=now, timezone=self.config.timezone, name=href)
            except IcsError as err:
                unreadable = True
                problems.append(str(err))
                continue
            events.update((e.external_id, e) for e in parsed.events)
            problems.extend(f"{href}: {p}" for p in parsed.problems)
            quarantined |= parsed.quarantined_uids
        changes = await memory.records.sync_events(
            list(events.values()),
            workspace=workspace,
            source=CALDAV_SOURCE,
            replace_window=None if unreadable else window,
            keep_uids=quarantined,
        )
        if problems:
            log.warning("calendar sync quarantined %d item(s) for %s", len(problems), workspace)
        return SyncReport(
            imported=changes.inserted + changes.updated,
            duplicates=changes.unchanged,
            quarantined=len(problems),
            problems=tuple(problems[:MAX_REPORTED_PROBLEMS]),
            removed=changes.removed,
        )

    async def import_file(self, path: Path, memory: MemoryService, workspace: str) -> ReadReport:
        """Import an .ics file into ``events`` (``connectors.ics.import_ics``)."""
        return await import_ics(path, memory, workspace, timezone=self.config.timezone, now=self.clock())

    async def write(self, action: Action, idempotency_key: str) -> Outcome:
        if action.type == "event.create":
            event = _new_event(action.args, uid=event_uid(idempotency_key), now=self.clock())
            return await asyncio.to_thread(self._dav.call, lambda cal: _create(cal, event))
        if action.type == "event.delete":
            uid = _text(action.args, "uid", 500)
            if "#" in uid:
                raise CalendarError(
                    "that is one occurrence of a repeating event; SoloOS deletes whole events only "
                    "(give the UID before '#' to delete the series)"
                )
            return await asyncio.to_thread(self._dav.call, lambda cal: _delete(cal, uid))
        raise ConnectorError(f"the calendar connector cannot do {action.type!r}")

    async def flush(self, memory: MemoryService, workspace: str) -> int:
        """Carry out the calendar writes the gate recorded: create the 'pending' events on the server and
        delete the 'cancelled' ones there (and then here). Returns how many events reached the server.

        A server that cannot be used stops the round: the event keeps its status, the reason is noted
        on it (``push_error``) and the ``CalendarError`` is raised, so the sync reports it; the next
        flush tries again. An event the server will never take is marked 'failed' and reported too.
        """
        pushed, refused = 0, list[str]()
        for item in await asyncio.to_thread(_waiting, memory.db, workspace):
            try:
                if item.cancelled:
                    await self._delete(memory.db, item)
                else:
                    pushed += await self._push(memory.db, workspace, item)
            except CalendarError as err:
                await asyncio.to_thread(_note_error, memory.db, item, str(err), give_up=False)
                log.warning("calendar flush for %s stopped after %d pushed: %s", workspace, pushed, err)
                raise
            except ConnectorError as err:
                await asyncio.to_thread(_note_error, memory.db, item, str(err), give_up=True)
                refused.append(f"the event “{item.title}” cannot be put on the server: {err}")
        if refused:
            raise ConnectorError("; ".join(refused))
        return pushed

    async def _push(self, db: Database, workspace: str, item: _Waiting) -> int:
        await self.write(item.action(), item.key)  # the key gives the UID: pushing twice finds the first
        status = await asyncio.to_thread(_hand_to_sync, db, workspace, item)
        if status is None:  # undone while it was on its way: take it off the server again
            await self.write(Action("event.delete", {"uid": item.uid}), f"undo:{item.key}")
        return 1 if status == "pushed" else 0

    async def _delete(self, db: Database, item: _Waiting) -> None:
        await self.write(Action("event.delete", {"uid": item.uid}), f"undo:{item.key}")
        await asyncio.to_thread(_forget, db, item)

    async def undo(self, handle: dict[str, Any]) -> str:
        """Reverse a write from its undo handle; returns a sentence, or raises ``ConnectorError``."""
        kind = handle.get("kind")
        if kind == "calendar.event.delete":
            uid = str(handle.get("uid", ""))
            outcome = await asyncio.to_thread(self._dav.call, lambda cal: _delete(cal, uid))
            return "the event was removed from the calendar" if outcome.undo else "the event was already gone"
        if kind == "calendar.event.restore":
            ical = str(handle.get("ical", ""))
            await asyncio.to_thread(self._dav.call, lambda cal: cal.add_event(ical, increase_seqno=False))
            return "the event is back in the calendar"
        raise ConnectorError(f"don't know how to undo {kind!r}")


# -- blocking operations on one calendar -----------------------------------------------------------


def _fetch(calendar: Calendar, window: tuple[datetime, datetime]) -> list[tuple[str, str]]:
    """(address, iCalendar text) of every event object the server has in ``window``."""
    found: list[CalendarObjectResource] = _sync(calendar.search(start=window[0], end=window[1], event=True))
    return [(str(obj.url), str(obj.data)) for obj in found if obj.data]


def _create(calendar: Calendar, draft: _Draft) -> Outcome:
    undo = {"kind": "calendar.event.delete", "uid": draft.uid}
    when = f"{draft.starts_at:%Y-%m-%d %H:%M} UTC"
    if _existing(calendar, draft.uid) is not None:
        return Outcome(f"{draft.title!r} on {when} was already in the calendar", undo)
    _sync(calendar.add_event(draft.to_ical(), no_overwrite=True))
    return Outcome(f"added {draft.title!r} on {when} to {_display_name(calendar)!r}", undo)


def _delete(calendar: Calendar, uid: str) -> Outcome:
    existing = _existing(calendar, uid)
    if existing is None:
        return Outcome(f"the event {uid} was already gone from the calendar")
    ical = str(existing.data)
    title = _summary(ical) or uid
    existing.delete()
    return Outcome(
        f"deleted {title!r} from {_display_name(calendar)!r}", {"kind": "calendar.event.restore", "ical": ical}
    )


def _summary(ical: str) -> str | None:
    try:
        events = icalendar.Calendar.from_ical(ical).walk("VEVENT")
    except ValueError:
        return None
    return str(events[0].get("SUMMARY", "")) if events else None


def _existing(calendar: Calendar, uid: str) -> CalendarObjectResource | None:
    try:
        return _sync(calendar.get_event_by_uid(uid))
    except dav_error.NotFoundError:
        return None


# -- what the gate recorded and the server has not seen yet ----------------------------------------


@dataclass(frozen=True)
class _Waiting:
    """An event the gate recorded: to create on the server ('pending') or to delete there ('cancelled')."""

    id: int
    key: str
    uid: str
    title: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    attendee: str | None
    cancelled: bool

    def action(self) -> Action:
        args = {"title": self.title, "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat()}
        extras = {"location": self.location, "attendee": self.attendee}
        return Action("event.create", args | {k: v for k, v in extras.items() if v})


def _waiting(db: Database, workspace: str, limit: int = 100) -> list[_Waiting]:
    with db.connection() as conn:
        rows = conn.execute(
            """SELECT id, push_key, uid, title, starts_at, ends_at, location, attendee, push_status = 'cancelled'
               FROM events WHERE workspace = %s AND push_status IN ('pending', 'cancelled') ORDER BY id LIMIT %s""",
            (workspace, limit),
        ).fetchall()
    return [_Waiting(*row) for row in rows]


def _hand_to_sync(db: Database, workspace: str, item: _Waiting) -> str | None:
    """Mark a pushed event 'pushed' and make it the sync's row (source 'caldav', same UID), so the next
    ``read`` recognises it. Returns the row's status afterwards; None when it was undone meanwhile."""
    with db.connection() as conn:
        # the lock ``Records.sync_events`` holds while it writes this source: no read interleaves
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"events:{workspace}:{CALDAV_SOURCE}",))
        # a read between the push and now (say, before a crash) already brought the server's copy in
        conn.execute(
            "DELETE FROM events WHERE workspace = %s AND source = %s AND external_id = %s AND id <> %s",
            (workspace, CALDAV_SOURCE, item.uid, item.id),
        )
        conn.execute(
            """UPDATE events SET source = %s, push_status = 'pushed', push_error = NULL, updated_at = now()
               WHERE id = %s AND push_status = 'pending'""",
            (CALDAV_SOURCE, item.id),
        )
        row = conn.execute("SELECT push_status FROM events WHERE id = %s", (item.id,)).fetchone()
    return None if row is None else str(row[0])


def _forget(db: Database, item: _Waiting) -> None:
    with db.connection() as conn:
        conn.execute("DELETE FROM events WHERE id = %s AND push_status = 'cancelled'", (item.id,))


def _note_error(db: Database, item: _Waiting, error: str, *, give_up: bool) -> None:
    with db.connection() as conn:
        conn.execute(
            """UPDATE events SET push_error = %s, push_status = CASE WHEN %s THEN 'failed' ELSE push_status END
               WHERE id = %s AND push_status IN ('pending', 'cancelled')""",
            (error, give_up and not item.cancelled, item.id),
        )


# -- arguments of the gated writes -----------------------------------------------------------------


def _text(args: dict[str, Any], name: str, limit: int) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConnectorError(f"{name} is missing")
    value = " ".join(value.split())
    if len(value) > limit:
        raise ConnectorError(f"{name} is longer than {limit} characters")
    return value


def _moment(args: dict[str, Any], name: str, zone: tzinfo | None) -> datetime:
    raw = _text(args, name, 64)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise ConnectorError(f"{name} {raw!r} is not an ISO 8601 time such as 2026-11-25T14:00+01:00") from err
    if moment.tzinfo is None:
        if zone is None:
            raise ConnectorError(f"{name} {raw!r} has no UTC offset; add one or give a timezone")
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class _Draft:
    """An event the gate allowed us to create, validated."""

    uid: str
    title: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    attendee: str | None
    stamp: datetime

    def to_ical(self) -> str:
        event = icalendar.Event()
        event.add("UID", self.uid)
        event.add("SUMMARY", self.title)
        event.add("DTSTART", self.starts_at)
        event.add("DTEND", self.ends_at)
        event.add("DTSTAMP", self.stamp)
        if self.location:
            event.add("LOCATION", self.location)
        if self.attendee:
            event.add("ATTENDEE", f"mailto:{self.attendee}")
        calendar = icalendar.Calendar()
        calendar.add("PRODID", "-//SoloOS//calendar connector//EN")
        calendar.add("VERSION", "2.0")
        calendar.add_component(event)
        return str(calendar.to_ical().decode())


def _new_event(args: dict[str, Any], *, uid: str, now: datetime) -> _Draft:
    title = _text(args, "title", MAX_TITLE_CHARS)
    zone_name = args.get("timezone")
    try:
        zone = zone_named(zone_name) if isinstance(zone_name, str) and zone_name else None
    except ValueError as err:
        raise ConnectorError(str(err)) from err
    starts, ends = _moment(args, "starts_at", zone), _moment(args, "ends_at", zone)
    if ends <= starts:
        raise ConnectorError("the event must end after it starts")
    if ends - starts > MAX_EVENT_LENGTH:
        raise ConnectorError(f"an event longer than {MAX_EVENT_LENGTH.days} days is almost certainly a wrong date")
    if not now - timedelta(days=366) <= starts <= now + MAX_EVENT_AHEAD:
        raise ConnectorError(f"{starts:%Y-%m-%d} is not a plausible date for a new event")
    location = args.get("location")
    place = " ".join(location.split())[:MAX_LOCATION_CHARS] if isinstance(location, str) else ""
    attendee = _text(args, "attendee", 320) if args.get("attendee") else None
    return _Draft(uid, title, starts, ends, place or None, attendee, now.astimezone(UTC))


# -- free slots ------------------------------------------------------------------------------------


async def free_slots(
    memory: MemoryService,
    workspace: str,
    *,
    day_start: time,
    day_end: time,
    duration: timedelta,
    between: tuple[datetime, datetime],
    timezone: str,
) -> list[tuple[datetime, datetime]]:
    """Free stretches of at least ``duration`` within working hours (``day_start``–``day_end``, local
    time in ``timezone``) and ``between``, around the busy events of the workspace. All-day events
    block their whole local day(s); transparent events block nothing."""
    zone = zone_named(timezone)
    rows = await memory.records.busy_times(workspace=workspace, start=between[0], end=between[1])
    busy = [_local_span(start, end, all_day, zone) for start, end, all_day in rows]
    return find_free_slots(
        busy, day_start=day_start, day_end=day_end, duration=duration, between=between, timezone=zone
    )


def _local_span(start: datetime, end: datetime, all_day: bool, zone: tzinfo) -> tuple[datetime, datetime]:
    if not all_day:
        return start, end
    first, after = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return _at(first, time(), zone), _at(max(after, first + timedelta(days=1)), time(), zone)


def _at(day: date, clock: time, zone: tzinfo) -> datetime:
    """A local wall-clock time as an instant; a time skipped by DST lands after the jump."""
    return datetime.combine(day, clock, zone).astimezone(UTC).astimezone(zone)


def find_free_slots(
    busy: Iterable[tuple[datetime, datetime]],
    *,
    day_start: time,
    day_end: time,
    duration: timedelta,
    between: tuple[datetime, datetime],
    timezone: str | tzinfo,
) -> list[tuple[datetime, datetime]]:
    """The pure part of ``free_slots``: maximal free stretches, in ``timezone``, sorted."""
    zone = zone_named(timezone) if isinstance(timezone, str) else timezone
    low, high = between
    if low.tzinfo is None or high.tzinfo is None:
        raise ValueError("between must hold aware datetimes")
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if day_end <= day_start:
        raise ValueError("day_end must be after day_start")
    # All arithmetic and comparison in UTC: Python compares and subtracts two datetimes of the same
    # zone on the wall clock, which is wrong across a DST change (found by the property test).
    blocks = _merged((s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy)
    slots: list[tuple[datetime, datetime]] = []
    for day in _days(low.astimezone(zone).date(), high.astimezone(zone).date()):
        opens = max(_at(day, day_start, zone).astimezone(UTC), low.astimezone(UTC))
        closes = min(_at(day, day_end, zone).astimezone(UTC), high.astimezone(UTC))
        for start, end in _gaps(opens, closes, blocks):
            if end - start >= duration:
                slots.append((start.astimezone(zone), end.astimezone(zone)))
    return slots


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _merged(busy: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted((s, e) for s, e in busy if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _gaps(
    opens: datetime, closes: datetime, blocks: list[tuple[datetime, datetime]]
) -> Iterator[tuple[datetime, datetime]]:
    cursor = opens
    for start, end in blocks:
        if end <= cursor:
            continue
        if start >= closes:
            break
        if start > cursor:
            yield cursor, start
        cursor = end
    if cursor < closes:
        yield cursor, closes


if TYPE_CHECKING:

    def _is_a_connector(connector: CalendarConnector) -> Connector:  # checked by mypy, never run
        return connector
