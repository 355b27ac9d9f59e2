"""The arguments of a gated event write, checked and turned into an iCalendar event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import icalendar

from connectors.calendar.ics import zone_named
from connectors.checks import (
    MAX_ADDRESS_CHARS,
    MAX_EVENT_AHEAD,
    MAX_EVENT_LENGTH,
    MAX_LOCATION_CHARS,
    MAX_TIME_CHARS,
    text_arg,
)
from connectors.errors import ConnectorError
from memory import MAX_TITLE_CHARS


def _moment(args: dict[str, Any], name: str, zone: tzinfo | None) -> datetime:
    raw = text_arg(args, name, MAX_TIME_CHARS, one_line=True)
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
class Draft:
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


def new_event(args: dict[str, Any], *, uid: str, now: datetime) -> Draft:
    title = text_arg(args, "title", MAX_TITLE_CHARS, one_line=True)
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
    attendee = text_arg(args, "attendee", MAX_ADDRESS_CHARS, one_line=True) if args.get("attendee") else None
    return Draft(uid, title, starts, ends, place or None, attendee, now.astimezone(UTC))


__all__ = ["Draft", "new_event"]
