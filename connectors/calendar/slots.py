"""Free time: ``free_slots`` proposes free stretches from the canonical events (any connector's,
and imported ``.ics`` files), so it works without a server round trip; ``find_free_slots`` is its
pure part."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from connectors.calendar.ics import zone_named

if TYPE_CHECKING:
    from memory import MemoryService


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


__all__ = ["find_free_slots", "free_slots"]
