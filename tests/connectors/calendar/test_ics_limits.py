"""Oversized calendars are refused before they are parsed (issue 14: a 100k-event .ics took 1.16 GB),
with a message naming the limit and what the file holds, and nothing is imported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.calendar.ics import MAX_EVENTS, MAX_FILE_BYTES, import_ics, parse_ics
from connectors.errors import IcsError
from memory import MemoryService

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
MB = 1_048_576


def _calendar(events: int, *, rule: str = "") -> str:
    start = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:e{i}@example.com\r\nSUMMARY:Call {i}\r\n"
        f"DTSTART:{(start + timedelta(minutes=i)):%Y%m%dT%H%M%SZ}\r\nDURATION:PT15M\r\n{rule}END:VEVENT\r\n"
        for i in range(events)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"


async def _events(memory: MemoryService, workspace: str) -> int:
    with memory.db.connection() as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE workspace = %s", (workspace,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "everything.ics"
    with path.open("wb") as handle:
        handle.write(_calendar(1).encode())
        handle.truncate(MAX_FILE_BYTES + MB // 2)  # sparse: cheap to create

    with pytest.raises(IcsError) as caught:
        await import_ics(path, memory, workspace, now=NOW)

    assert str(caught.value) == "everything.ics is 20.5 MB; SoloOS imports calendars up to 20 MB"
    assert await _events(memory, workspace) == 0


async def test_a_calendar_with_more_events_than_the_limit_is_refused_before_parsing(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "flood.ics"
    path.write_text(_calendar(MAX_EVENTS + 1))

    with pytest.raises(IcsError) as caught:
        await import_ics(path, memory, workspace, now=NOW)

    assert str(caught.value) == (
        f"flood.ics holds {MAX_EVENTS + 1:,} events; SoloOS imports calendars of up to {MAX_EVENTS:,} "
        "events: export a shorter period"
    )
    assert await _events(memory, workspace) == 0


def test_recurring_series_together_may_not_expand_past_the_limit() -> None:
    # 60 daily series over a year: each is under the per-series cap, together they pass the file's cap.
    text = _calendar(60, rule="RRULE:FREQ=DAILY\r\n")
    with pytest.raises(IcsError, match=r"^team\.ics expands to more than 20,000 events in the imported period"):
        parse_ics(text, window=(NOW, NOW + timedelta(days=365)), now=NOW, name="team.ics")
