"""The raw CalDAV layer: ``CalDAV`` wraps the blocking ``caldav`` client (run it in
``asyncio.to_thread``, one call at a time) and translates its exceptions into ``CalendarError`` with a
message for the operator; the functions below it are the blocking operations on one calendar."""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import icalendar
from caldav.calendarobjectresource import CalendarObjectResource
from caldav.collection import Calendar
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error

from connectors.calendar.config import CalendarConfig
from connectors.calendar.drafts import Draft
from connectors.effects import Outcome
from connectors.errors import CalendarError

CALDAV_SOURCE = "caldav"
SETUP_HINT = "then run `soloos connect calendar` again"
T = TypeVar("T")


class CalDAV:
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
        return self.call(display_name)

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
            self._calendar = self._choose(list(sync_result(self._client.get_principal().calendars())))
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
            if wanted.casefold() in (display_name(calendar).casefold(), _slug(calendar).casefold()):
                return calendar
        names = ", ".join(repr(display_name(c)) for c in calendars)
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


def sync_result(result: T | Coroutine[Any, Any, T]) -> T:
    """``caldav`` types its results as "value, or a coroutine with an async client"; ours is sync."""
    if isinstance(result, Coroutine):
        result.close()
        raise TypeError("the caldav client returned a coroutine; SoloOS uses the synchronous client")
    return result


def display_name(calendar: Calendar) -> str:
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


# -- blocking operations on one calendar -----------------------------------------------------------


def fetch_events(calendar: Calendar, window: tuple[datetime, datetime]) -> list[tuple[str, str]]:
    """(address, iCalendar text) of every event object the server has in ``window``."""
    found: list[CalendarObjectResource] = sync_result(calendar.search(start=window[0], end=window[1], event=True))
    return [(str(obj.url), str(obj.data)) for obj in found if obj.data]


def create_event(calendar: Calendar, draft: Draft) -> Outcome:
    undo = {"kind": "calendar.event.delete", "uid": draft.uid}
    when = f"{draft.starts_at:%Y-%m-%d %H:%M} UTC"
    if _existing(calendar, draft.uid) is not None:
        return Outcome(f"{draft.title!r} on {when} was already in the calendar", undo)
    sync_result(calendar.add_event(draft.to_ical(), no_overwrite=True))
    return Outcome(f"added {draft.title!r} on {when} to {display_name(calendar)!r}", undo)


def delete_event(calendar: Calendar, uid: str) -> Outcome:
    existing = _existing(calendar, uid)
    if existing is None:
        return Outcome(f"the event {uid} was already gone from the calendar")
    ical = str(existing.data)
    title = _summary(ical) or uid
    existing.delete()
    return Outcome(
        f"deleted {title!r} from {display_name(calendar)!r}", {"kind": "calendar.event.restore", "ical": ical}
    )


def _summary(ical: str) -> str | None:
    try:
        events = icalendar.Calendar.from_ical(ical).walk("VEVENT")
    except ValueError:
        return None
    return str(events[0].get("SUMMARY", "")) if events else None


def _existing(calendar: Calendar, uid: str) -> CalendarObjectResource | None:
    try:
        return sync_result(calendar.get_event_by_uid(uid))
    except dav_error.NotFoundError:
        return None


__all__ = [
    "CALDAV_SOURCE",
    "SETUP_HINT",
    "CalDAV",
    "create_event",
    "delete_event",
    "display_name",
    "fetch_events",
    "sync_result",
]
