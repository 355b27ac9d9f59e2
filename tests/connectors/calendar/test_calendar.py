"""The calendar connector against a real local CalDAV server (Radicale), ICS import, and free slots."""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from caldav.calendarobjectresource import CalendarObjectResource
from caldav.collection import Calendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from connectors import ConnectorError
from connectors.base import Capability
from connectors.calendar import (
    CalendarConfig,
    CalendarConnector,
    IcsError,
    find_free_slots,
    free_slots,
    import_ics,
    parse_ics,
)
from memory import MemoryService
from memory._records import NewEvent
from policies.engine import Action
from tests.support.caldav_server import CalDAVServer, free_port

DATA = Path(__file__).parent / "data"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a week before the DST change in Europe/Berlin (28 March)
BERLIN = ZoneInfo("Europe/Berlin")
VTIMEZONE_BERLIN = (DATA / "weekly.ics").read_text().split("BEGIN:VTIMEZONE")[1].split("END:VTIMEZONE")[0]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ics(*vevents: str, vtimezone: bool = False) -> str:
    zone = f"BEGIN:VTIMEZONE{VTIMEZONE_BERLIN}END:VTIMEZONE\n" if vtimezone else ""
    body = "".join(f"BEGIN:VEVENT\nDTSTAMP:20270101T000000Z\n{v.strip()}\nEND:VEVENT\n" for v in vevents)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//SoloOS tests//EN\n{zone}{body}END:VCALENDAR\n"


async def stored(memory: MemoryService, workspace: str) -> list[tuple[Any, ...]]:
    """(external_id, title, starts_at, ends_at, all_day, busy, location, source) of the workspace's events."""

    def run() -> list[tuple[Any, ...]]:
        with memory.db.connection() as conn:
            return conn.execute(
                """SELECT external_id, title, starts_at, ends_at, all_day, busy, location, source FROM events
                   WHERE workspace = %s ORDER BY starts_at, external_id""",
                (workspace,),
            ).fetchall()

    return await asyncio.to_thread(run)


# -- the server (``server`` and ``calendar`` come from conftest.py) --------------------------------


def config(server: CalDAVServer, calendar: str | None = None, **changes: Any) -> CalendarConfig:
    values: dict[str, Any] = {
        "url": server.url,
        "username": server.username,
        "password": SecretStr(server.password),
        "calendar": calendar,
        **changes,
    }
    return CalendarConfig(**values)


@pytest.fixture
async def connector(server: CalDAVServer, calendar: Calendar) -> AsyncIterator[CalendarConnector]:
    made = CalendarConnector(config(server, str(calendar.get_display_name())), clock=lambda: NOW)
    yield made
    await made.aclose()


async def put(calendar: Calendar, text: str) -> None:
    await asyncio.to_thread(calendar.add_event, text)


def delete_on_server(calendar: Calendar, uid: str) -> None:
    found = calendar.get_event_by_uid(uid)
    assert isinstance(found, CalendarObjectResource)
    found.delete()


# -- contract and health ---------------------------------------------------------------------------


def test_connector_declares_its_contract() -> None:
    assert CalendarConnector.name == "calendar"
    assert CalendarConnector.capabilities == Capability.READ | Capability.SCHEDULE | Capability.IMPORT
    assert CalendarConnector.Config is CalendarConfig
    with pytest.raises(ValidationError, match="not an http"):
        CalendarConfig(url="cal.example.com", username="me", password=SecretStr("x"))
    with pytest.raises(ValidationError, match="time zone"):
        CalendarConfig(url="https://cal.example.com/", username="me", password=SecretStr("x"), timezone="Mars/Base")


async def test_health_is_ok_and_names_the_calendar(connector: CalendarConnector, calendar: Calendar) -> None:
    health = await connector.health()
    assert health.ok, health.detail
    assert repr(str(calendar.get_display_name())) in health.detail


async def test_health_without_a_calendar_name_uses_the_first_calendar(server: CalDAVServer, calendar: Calendar) -> None:
    connector = CalendarConnector(config(server))
    health = await connector.health()
    await connector.aclose()
    assert health.ok and "calendar '" in health.detail


async def test_wrong_password_is_reported_with_the_fix(server: CalDAVServer) -> None:
    connector = CalendarConnector(config(server, password=SecretStr("hunter2")))
    health = await connector.health()
    await connector.aclose()
    assert not health.ok
    assert "wrong user name or password" in health.detail and "soloos connect calendar" in health.detail
    assert "hunter2" not in health.detail and server.password not in health.detail


async def test_unreachable_server_is_reported_with_the_fix(server: CalDAVServer) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/"
    connector = CalendarConnector(config(server, url=nobody), timeout=3)
    health = await connector.health()
    await connector.aclose()
    assert not health.ok
    assert health.detail.startswith(f"cannot reach the CalDAV server at {nobody} (connection refused)")
    assert "soloos connect calendar" in health.detail


async def test_an_address_that_is_not_caldav_is_reported(server: CalDAVServer) -> None:
    web = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # 501 for PROPFIND
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{web.server_port}/"
        connector = CalendarConnector(config(server, url=url), timeout=3)
        health = await connector.health()
        await connector.aclose()
    finally:
        web.shutdown()
        web.server_close()
    assert not health.ok
    assert health.detail.startswith(f"the server at {url} does not speak CalDAV (HTTP 501); check the address")


async def test_unknown_calendar_is_reported_with_the_calendars_there_are(
    server: CalDAVServer, calendar: Calendar
) -> None:
    connector = CalendarConnector(config(server, "Holidays on Mars"))
    health = await connector.health()
    await connector.aclose()
    assert not health.ok
    assert "no calendar named 'Holidays on Mars'" in health.detail
    assert repr(str(calendar.get_display_name())) in health.detail


async def test_read_from_an_unreachable_server_raises_a_clear_error(
    server: CalDAVServer, memory: MemoryService, workspace: str
) -> None:
    connector = CalendarConnector(config(server, url=f"http://127.0.0.1:{free_port()}/"), timeout=3)
    with pytest.raises(ConnectorError, match="cannot reach the CalDAV server"):
        await connector.read(memory, workspace)
    await connector.aclose()


# -- read ------------------------------------------------------------------------------------------

ON_SERVER = [
    ics("UID:call-1\nSUMMARY:Call with Acme\nDTSTART:20270303T150000Z\nDTEND:20270303T154500Z\nLOCATION:Phone"),
    ics(
        "UID:standup\nSUMMARY:Standup\nDTSTART;TZID=Europe/Berlin:20270322T090000\n"
        "DTEND;TZID=Europe/Berlin:20270322T093000\nRRULE:FREQ=WEEKLY;COUNT=3",
        vtimezone=True,
    ),
    ics("UID:fair\nSUMMARY:Trade fair\nDTSTART;VALUE=DATE:20270310\nDTEND;VALUE=DATE:20270312"),
    ics("UID:focus\nSUMMARY:Focus time\nDTSTART:20270304T080000Z\nDTEND:20270304T100000Z\nTRANSP:TRANSPARENT"),
]

EXPECTED = [
    ("call-1", "Call with Acme", utc(2027, 3, 3, 15), utc(2027, 3, 3, 15, 45), False, True, "Phone", "caldav"),
    ("focus", "Focus time", utc(2027, 3, 4, 8), utc(2027, 3, 4, 10), False, False, None, "caldav"),
    ("fair", "Trade fair", utc(2027, 3, 10), utc(2027, 3, 12), True, True, None, "caldav"),
    # 09:00 in Berlin is 08:00 UTC before the change on 28 March and 07:00 UTC after it
    ("standup#20270322T080000Z", "Standup", utc(2027, 3, 22, 8), utc(2027, 3, 22, 8, 30), False, True, None, "caldav"),
    ("standup#20270329T070000Z", "Standup", utc(2027, 3, 29, 7), utc(2027, 3, 29, 7, 30), False, True, None, "caldav"),
    ("standup#20270405T070000Z", "Standup", utc(2027, 4, 5, 7), utc(2027, 4, 5, 7, 30), False, True, None, "caldav"),
]


async def test_read_brings_server_events_in_as_utc_records(
    connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    for text in ON_SERVER:
        await put(calendar, text)
    report = await connector.read(memory, workspace)
    assert (report.imported, report.duplicates, report.quarantined, report.removed) == (6, 0, 0, 0)
    assert await stored(memory, workspace) == EXPECTED
    assert await connector.flush(memory, workspace) == 0  # the gate queued nothing here


async def test_reading_again_adds_no_duplicates(
    connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    for text in ON_SERVER:
        await put(calendar, text)
    await connector.read(memory, workspace)
    again = await connector.read(memory, workspace)
    assert (again.imported, again.duplicates, again.removed) == (0, 6, 0)
    assert await stored(memory, workspace) == EXPECTED


async def test_changes_and_deletions_on_the_server_are_mirrored(
    connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    for text in ON_SERVER:
        await put(calendar, text)
    await connector.read(memory, workspace)

    moved = ics("UID:call-1\nSUMMARY:Call with Acme (moved)\nDTSTART:20270305T090000Z\nDTEND:20270305T093000Z")
    await put(calendar, moved)
    await asyncio.to_thread(delete_on_server, calendar, "fair")
    report = await connector.read(memory, workspace)

    assert (report.imported, report.removed) == (1, 1)
    rows = await stored(memory, workspace)
    assert [r[0] for r in rows if not r[0].startswith("standup")] == ["focus", "call-1"]
    assert rows[1][1:4] == ("Call with Acme (moved)", utc(2027, 3, 5, 9), utc(2027, 3, 5, 9, 30))


async def test_a_broken_event_on_the_server_is_quarantined_and_its_copy_kept(
    connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    await put(calendar, ics("UID:lunch\nSUMMARY:Lunch\nDTSTART:20270305T120000Z\nDTEND:20270305T130000Z"))
    await put(calendar, ON_SERVER[0])
    await connector.read(memory, workspace)

    await put(calendar, ics("UID:lunch\nSUMMARY:Lunch\nDTSTART:20270305T120000Z\nDTEND:20270305T110000Z"))
    report = await connector.read(memory, workspace)

    assert report.quarantined == 1 and report.removed == 0
    assert "'Lunch' (UID lunch): it ends" in report.problems[0] and "before it starts" in report.problems[0]
    rows = await stored(memory, workspace)
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("call-1", utc(2027, 3, 3, 15), utc(2027, 3, 3, 15, 45)),
        ("lunch", utc(2027, 3, 5, 12), utc(2027, 3, 5, 13)),  # the last good copy
    ]


async def test_read_keeps_other_sources_and_workspaces_apart(
    connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    await memory.records.add_event("Imported by hand", workspace=workspace, starts_at=utc(2027, 3, 2, 9), source="ics")
    await put(calendar, ON_SERVER[0])
    await connector.read(memory, workspace)
    await connector.read(memory, workspace + "-other")
    assert [r[0] for r in await stored(memory, workspace)] == [None, "call-1"]
    assert [r[0] for r in await stored(memory, workspace + "-other")] == ["call-1"]


# -- write -----------------------------------------------------------------------------------------

MEETING = {"title": "Kick-off with Bea", "starts_at": "2027-03-30T10:00:00+02:00", "ends_at": "2027-03-30T11:00+02:00"}


def uids_on(calendar: Calendar) -> list[str]:
    events = calendar.get_events()
    assert isinstance(events, list)
    return sorted(str(e.icalendar_component["UID"]) for e in events)


async def test_event_create_puts_the_event_on_the_server_once(
    connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    action = Action("event.create", {**MEETING, "location": "Café Blau"})
    first = await connector.write(action, "intent-42:step-1")
    again = await connector.write(action, "intent-42:step-1")

    uids = await asyncio.to_thread(uids_on, calendar)
    assert len(uids) == 1 and uids[0].startswith("soloos-")
    assert first.undo == again.undo == {"kind": "calendar.event.delete", "uid": uids[0]}
    assert "added 'Kick-off with Bea' on 2027-03-30 08:00 UTC" in first.summary
    assert "already in the calendar" in again.summary

    await connector.read(memory, workspace)
    assert await stored(memory, workspace) == [
        (uids[0], "Kick-off with Bea", utc(2027, 3, 30, 8), utc(2027, 3, 30, 9), False, True, "Café Blau", "caldav")
    ]


async def test_another_key_creates_another_event(connector: CalendarConnector, calendar: Calendar) -> None:
    await connector.write(Action("event.create", MEETING), "key-a")
    await connector.write(Action("event.create", MEETING), "key-b")
    assert len(await asyncio.to_thread(uids_on, calendar)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({**MEETING, "title": "  "}, "title is missing"),
        ({**MEETING, "ends_at": "2027-03-30T09:00+02:00"}, "must end after it starts"),
        ({**MEETING, "starts_at": "next tuesday"}, "not an ISO 8601 time"),
        ({**MEETING, "starts_at": "2027-03-30T10:00"}, "has no UTC offset"),
        ({**MEETING, "starts_at": "2047-03-30T10:00+02:00", "ends_at": "2047-03-30T11:00+02:00"}, "not a plausible"),
        ({**MEETING, "ends_at": "2027-05-30T11:00+02:00"}, "longer than 31 days"),
    ],
)
async def test_event_create_refuses_bad_arguments_before_touching_the_server(
    connector: CalendarConnector, calendar: Calendar, args: dict[str, str], message: str
) -> None:
    with pytest.raises(ConnectorError, match=message):
        await connector.write(Action("event.create", args), f"bad-{uuid.uuid4()}")
    assert await asyncio.to_thread(uids_on, calendar) == []


async def test_a_local_time_with_a_timezone_is_placed_in_that_zone(
    connector: CalendarConnector, calendar: Calendar
) -> None:
    args = {**MEETING, "starts_at": "2027-03-30T10:00", "ends_at": "2027-03-30T11:00", "timezone": "Europe/Berlin"}
    outcome = await connector.write(Action("event.create", args), "local-time")
    assert "on 2027-03-30 08:00 UTC" in outcome.summary


async def test_event_delete_and_both_undos(connector: CalendarConnector, calendar: Calendar) -> None:
    created = await connector.write(Action("event.create", MEETING), "to-delete")
    assert created.undo is not None
    uid = created.undo["uid"]

    deleted = await connector.write(Action("event.delete", {"uid": uid}), "delete-1")
    assert deleted.summary.startswith("deleted 'Kick-off with Bea'")
    assert await asyncio.to_thread(uids_on, calendar) == []
    gone = await connector.write(Action("event.delete", {"uid": uid}), "delete-2")
    assert "already gone" in gone.summary and gone.undo is None

    assert deleted.undo is not None
    assert await connector.undo(deleted.undo) == "the event is back in the calendar"
    assert await asyncio.to_thread(uids_on, calendar) == [uid]
    assert await connector.undo(created.undo) == "the event was removed from the calendar"
    assert await asyncio.to_thread(uids_on, calendar) == []


async def test_unknown_actions_and_occurrence_deletes_are_refused(connector: CalendarConnector) -> None:
    with pytest.raises(ConnectorError, match=r"cannot do 'email\.send'"):
        await connector.write(Action("email.send", {}), "k1")
    with pytest.raises(ConnectorError, match="one occurrence of a repeating event"):
        await connector.write(Action("event.delete", {"uid": "standup#20270322T080000Z"}), "k2")


async def test_writes_with_a_wrong_password_fail_with_the_fix(server: CalDAVServer, calendar: Calendar) -> None:
    connector = CalendarConnector(config(server, password=SecretStr("nope")), clock=lambda: NOW)
    with pytest.raises(ConnectorError, match="wrong user name or password"):
        await connector.write(Action("event.create", MEETING), "denied")
    await connector.aclose()
    assert await asyncio.to_thread(uids_on, calendar) == []


# -- free slots ------------------------------------------------------------------------------------


async def add(memory: MemoryService, workspace: str, *events: NewEvent) -> None:
    await memory.records.sync_events(list(events), workspace=workspace, source="test")


def event(uid: str, start: datetime, end: datetime, *, all_day: bool = False, busy: bool = True) -> NewEvent:
    return NewEvent(uid, uid, uid, start.astimezone(UTC), end.astimezone(UTC), all_day=all_day, busy=busy)


def berlin(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=BERLIN)


async def test_free_slots_go_around_busy_events(memory: MemoryService, workspace: str) -> None:
    await add(
        memory,
        workspace,
        event("client call", berlin(29, 10), berlin(29, 11)),
        event("lunch", berlin(29, 12, 30), berlin(29, 13, 30)),
        event("overlapping lunch", berlin(29, 13), berlin(29, 14)),
        event("focus (transparent)", berlin(29, 15), berlin(29, 16), busy=False),
        event("trade fair", utc(2027, 3, 30), utc(2027, 3, 31), all_day=True),
    )
    slots = await free_slots(
        memory,
        workspace,
        day_start=time(9),
        day_end=time(17),
        duration=timedelta(hours=1),
        between=(berlin(29, 0), berlin(31, 12)),
        timezone="Europe/Berlin",
    )
    assert slots == [
        (berlin(29, 9), berlin(29, 10)),
        (berlin(29, 11), berlin(29, 12, 30)),
        (berlin(29, 14), berlin(29, 17)),  # the transparent focus block does not count
        (berlin(31, 9), berlin(31, 12)),  # the all-day fair takes the whole 30th
    ]
    assert all(slot[0].utcoffset() == timedelta(hours=2) for slot in slots)  # summer time after 28 March


async def test_an_all_day_event_blocks_the_operators_local_day(memory: MemoryService, workspace: str) -> None:
    await add(memory, workspace, event("holiday", utc(2027, 3, 30), utc(2027, 3, 31), all_day=True))
    slots = await free_slots(
        memory,
        workspace,
        day_start=time(0, 30),
        day_end=time(23, 30),
        duration=timedelta(minutes=30),
        between=(berlin(30, 0), berlin(31, 3)),
        timezone="Europe/Berlin",
    )
    assert slots == [(berlin(31, 0, 30), berlin(31, 3))]  # midnight to midnight in Berlin, not in UTC


async def test_free_slots_respect_the_dst_change(memory: MemoryService, workspace: str) -> None:
    # On 28 March 2027 Berlin skips 02:00–03:00: a 01:00–05:00 working day is three hours long.
    slots = await free_slots(
        memory,
        workspace,
        day_start=time(1),
        day_end=time(5),
        duration=timedelta(minutes=30),
        between=(berlin(27, 0), berlin(29, 0)),
        timezone="Europe/Berlin",
    )
    assert [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in slots] == [
        (utc(2027, 3, 27, 0), utc(2027, 3, 27, 4)),
        (utc(2027, 3, 28, 0), utc(2027, 3, 28, 3)),
    ]


def test_free_slots_refuse_nonsense_arguments() -> None:
    window = (utc(2027, 3, 1), utc(2027, 3, 2))
    with pytest.raises(ValueError, match="duration"):
        find_free_slots([], day_start=time(9), day_end=time(17), duration=timedelta(0), between=window, timezone="UTC")
    with pytest.raises(ValueError, match="day_end"):
        find_free_slots([], day_start=time(17), day_end=time(9), duration=timedelta(1), between=window, timezone="UTC")
    with pytest.raises(ValueError, match="time zone"):
        find_free_slots([], day_start=time(9), day_end=time(17), duration=timedelta(1), between=window, timezone="X")


# -- ICS import ------------------------------------------------------------------------------------


async def test_ics_import_expands_a_weekly_series_across_dst(memory: MemoryService, workspace: str) -> None:
    report = await import_ics(DATA / "weekly.ics", memory, workspace, now=NOW)
    assert (report.imported, report.duplicates, report.quarantined) == (8, 0, 0)
    rows = await stored(memory, workspace)
    standups = [(r[2], r[3]) for r in rows if r[1] == "Weekly standup"]
    assert standups == [
        (utc(2027, 3, 8, 8), utc(2027, 3, 8, 8, 30)),
        (utc(2027, 3, 15, 8), utc(2027, 3, 15, 8, 30)),
        (utc(2027, 3, 22, 8), utc(2027, 3, 22, 8, 30)),
        (utc(2027, 3, 29, 7), utc(2027, 3, 29, 7, 30)),
        (utc(2027, 4, 5, 7), utc(2027, 4, 5, 7, 30)),
        (utc(2027, 4, 12, 7), utc(2027, 4, 12, 7, 30)),
    ]
    assert {r[6] for r in rows if r[1] == "Weekly standup"} == {"Office, 2nd floor"}
    others = [r[1:5] for r in rows if r[1] != "Weekly standup"]
    assert others == [
        ("Call with Acme", utc(2027, 3, 10, 15), utc(2027, 3, 10, 15, 45), False),
        ("Trade fair", utc(2027, 3, 23), utc(2027, 3, 25), True),
    ]
    assert {r[7] for r in rows} == {"ics"}


async def test_ics_reimport_updates_instead_of_duplicating(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    await import_ics(DATA / "weekly.ics", memory, workspace, now=NOW)
    again = await import_ics(DATA / "weekly.ics", memory, workspace, now=NOW)
    assert (again.imported, again.duplicates) == (0, 8)
    assert len(await stored(memory, workspace)) == 8

    changed = (DATA / "weekly.ics").read_text().replace("COUNT=6", "COUNT=2").replace("Call with Acme", "Call w/ Acme")
    (tmp_path / "weekly.ics").write_text(changed)
    report = await import_ics(tmp_path / "weekly.ics", memory, workspace, now=NOW)
    assert (report.imported, report.duplicates) == (1, 3)
    rows = await stored(memory, workspace)
    assert len(rows) == 4 and "Call w/ Acme" in [r[1] for r in rows]


async def test_ics_with_one_broken_event_imports_the_others_and_reports_it(
    memory: MemoryService, workspace: str
) -> None:
    report = await import_ics(DATA / "one_broken.ics", memory, workspace, now=NOW)
    assert (report.imported, report.quarantined) == (2, 1)
    assert report.problems == (
        "VEVENT 2 'Lunch with Bea' (UID lunch-2027@example.com): it ends (2027-03-05 12:00 UTC) "
        "before it starts (2027-03-05 13:00 UTC)",
    )
    rows = await stored(memory, workspace)
    assert [(r[1], r[2]) for r in rows] == [("Dentist", utc(2027, 3, 4, 8)), ("Invoice review", utc(2027, 3, 6, 15))]


async def test_a_file_that_is_not_ics_is_refused_by_name(memory: MemoryService, workspace: str, tmp_path: Path) -> None:
    with pytest.raises(IcsError, match=r"^not_a_calendar\.ics is not an iCalendar \(\.ics\) file"):
        await import_ics(DATA / "not_a_calendar.ics", memory, workspace, now=NOW)
    (tmp_path / "scan.ics").write_bytes(b"%PDF-1.7\x00\x01binary")
    with pytest.raises(IcsError, match=r"^scan\.ics is a binary file"):
        await import_ics(tmp_path / "scan.ics", memory, workspace, now=NOW)
    with pytest.raises(IcsError, match=r"cannot read missing\.ics"):
        await import_ics(tmp_path / "missing.ics", memory, workspace, now=NOW)
    assert await stored(memory, workspace) == []


@pytest.mark.parametrize(
    ("vevent", "problem"),
    [
        ("UID:a\nDTSTART:20270305T120000Z\nDTEND:20270305T130000Z", "no title (SUMMARY)"),
        ("UID:a\nSUMMARY:x\nDTEND:20270305T130000Z", "no start (DTSTART)"),
        ("UID:a\nSUMMARY:x\nDTSTART:2027XX05T120000Z", "DTSTART is not valid"),
        ("UID:a\nSUMMARY:x\nDTSTART;TZID=Mars/Olympus:20270305T120000", "unknown time zone 'Mars/Olympus'"),
        ("UID:a\nSUMMARY:x\nDTSTART:19850305T120000Z", "before 1990"),
        ("UID:a\nSUMMARY:x\nDTSTART:20450305T120000Z", "more than 10 years ahead"),
        ("UID:a\nSUMMARY:x\nDTSTART:20270305T120000Z\nRRULE:FREQ=MINUTELY", "more often than hourly"),
        ("UID:a\nSUMMARY:x\nDTSTART:20270305T120000Z\nRRULE:FREQ=HOURLY", "more than 1000 times"),
        ("UID:a\nSUMMARY:x\nDTSTART;VALUE=DATE:20270305\nDTEND:20270305T130000Z", "mix a date and a time"),
    ],
)
def test_ics_validation_names_the_problem(vevent: str, problem: str) -> None:
    parsed = parse_ics(ics(vevent), window=(NOW - timedelta(days=90), NOW + timedelta(days=365)), now=NOW)
    assert parsed.events == () and parsed.quarantined_uids == {"a"}
    assert len(parsed.problems) == 1 and problem in parsed.problems[0]


def test_ics_details() -> None:
    window = (NOW - timedelta(days=90), NOW + timedelta(days=365))
    text = ics(
        "SUMMARY:No UID\nDTSTART:20270305T120000Z",  # a derived UID; no end: a moment
        "UID:gone\nSUMMARY:Cancelled\nDTSTART:20270305T120000Z\nSTATUS:CANCELLED",
        "UID:floating\nSUMMARY:Floating\nDTSTART:20270305T120000\nDTEND:20270305T130000",
        "UID:bday\nSUMMARY:Birthday\nDTSTART;VALUE=DATE:19850320\nRRULE:FREQ=YEARLY",  # a 1985 series is fine
    )
    parsed = parse_ics(text, window=window, now=NOW, timezone="America/New_York")
    events = {e.title: e for e in parsed.events}
    assert set(events) == {"No UID", "Floating", "Birthday"} and parsed.problems == ()
    assert events["No UID"].uid.startswith("derived-") and events["No UID"].ends_at == utc(2027, 3, 5, 12)
    assert events["Floating"].starts_at == utc(2027, 3, 5, 17)  # 12:00 in New York (EST)
    assert (events["Birthday"].external_id, events["Birthday"].all_day) == ("bday#2027-03-20", True)
    assert "gone" in parsed.uids  # a cancelled event replaces its stored copy with nothing
    again = parse_ics(text, window=window, now=NOW, timezone="America/New_York")
    assert again.events == parsed.events  # derived UIDs are stable


# -- properties ------------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
QUARTER = timedelta(minutes=15)
BASE = datetime(2027, 3, 24, tzinfo=UTC)  # a window around both the EU and the Lord Howe DST changes


@st.composite
def slot_problems(draw: st.DrawFn) -> tuple[list[tuple[datetime, datetime]], dict[str, Any]]:
    """Busy intervals, working hours and windows on a 15-minute grid (so a brute force can check)."""
    quarters = st.integers(min_value=0, max_value=14 * 96)
    busy = [
        (BASE + QUARTER * a, BASE + QUARTER * (a + n))
        for a, n in draw(st.lists(st.tuples(quarters, st.integers(1, 40)), max_size=25))
    ]
    start = draw(st.integers(0, 7 * 96))
    length = draw(st.integers(1, 7 * 96))
    first = draw(st.integers(0, 94))
    last = draw(st.integers(first + 1, 95))
    return busy, {
        "day_start": time(first // 4, first % 4 * 15),
        "day_end": time(last // 4, last % 4 * 15),
        "duration": QUARTER * draw(st.integers(1, 16)),
        "between": (BASE + QUARTER * start, BASE + QUARTER * (start + length)),
        "timezone": draw(st.sampled_from(ZONES)),
    }


def brute_force(busy: list[tuple[datetime, datetime]], p: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    """Free 15-minute cells inside working hours, joined into runs of at least ``duration``."""
    zone = ZoneInfo(p["timezone"])
    low, high = p["between"]

    def working(cell: datetime) -> bool:
        day = cell.astimezone(zone).date()
        opens = datetime.combine(day, p["day_start"], zone).astimezone(UTC)
        closes = datetime.combine(day, p["day_end"], zone).astimezone(UTC)
        return opens <= cell and cell + QUARTER <= closes

    runs: list[tuple[datetime, datetime]] = []
    cell = low
    while cell < high:
        free = working(cell) and not any(s < cell + QUARTER and cell < e for s, e in busy)
        if free and runs and runs[-1][1] == cell:
            runs[-1] = (runs[-1][0], cell + QUARTER)
        elif free:
            runs.append((cell, cell + QUARTER))
        cell += QUARTER
    return [(s, e) for s, e in runs if e - s >= p["duration"]]


@given(slot_problems())
@settings(max_examples=300, deadline=None)
def test_free_slots_are_exactly_the_free_working_time(problem: tuple[list[Any], dict[str, Any]]) -> None:
    busy, params = problem
    slots = find_free_slots(busy, **params)
    low, high = params["between"]
    for start, end in slots:
        assert low <= start < end <= high
        assert end - start >= params["duration"]
        assert not any(s < end and start < e for s, e in busy)
    assert [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in slots] == brute_force(busy, params)


LINES = st.sampled_from(
    [
        "SUMMARY:Meeting",
        "SUMMARY:",
        "UID:same",
        "DTSTART:20270305T120000Z",
        "DTSTART;TZID=Europe/Berlin:20270329T020000",
        "DTSTART;TZID=Nowhere/Land:20270305T120000",
        "DTSTART;VALUE=DATE:20270305",
        "DTSTART:99991231T235959Z",
        "DTSTART:2027",
        "DTEND:20270305T110000Z",
        "DTEND;VALUE=DATE:20270306",
        "DURATION:PT1H",
        "DURATION:-P1D",
        "DURATION:nonsense",
        "RRULE:FREQ=DAILY;COUNT=5",
        "RRULE:FREQ=WEEKLY;UNTIL=20270101T000000Z",
        "RRULE:FREQ=YEARLY",
        "RRULE:FREQ=HOURLY;INTERVAL=2",
        "RRULE:FREQ=SOMETIMES",
        "RDATE:20270310T120000Z",
        "EXDATE:20270306T120000Z",
        "RECURRENCE-ID:20270306T120000Z",
        "STATUS:CANCELLED",
        "TRANSP:TRANSPARENT",
        "LOCATION:Room 1",
        "BEGIN:VALARM",
        "END:VALARM",
        "X-WR-TIMEZONE:Europe/Berlin",
    ]
)


@given(st.lists(st.lists(LINES, max_size=8), max_size=5), st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_ics_shaped_text_is_read_or_refused_never_crashes(vevents: list[list[str]], noise: str) -> None:
    text = ics(*["\n".join(lines) for lines in vevents]).replace("END:VCALENDAR", noise + "\nEND:VCALENDAR")
    window = (NOW - timedelta(days=30), NOW + timedelta(days=180))
    try:
        parsed = parse_ics(text, window=window, now=NOW, timezone="Europe/Berlin")
    except IcsError as err:
        assert str(err).startswith("calendar ")
        return
    for e in parsed.events:
        assert e.title.strip() and e.starts_at.tzinfo is not None and e.starts_at <= e.ends_at
        assert e.uid in parsed.uids and e.uid not in parsed.quarantined_uids
    assert len(parsed.problems) == len(parsed.quarantined_uids)  # one line per quarantined series


@given(st.text(max_size=300))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_importing_arbitrary_text_reports_or_refuses(memory: MemoryService, tmp_path: Path, text: str) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.ics"
    path.write_text("BEGIN:VCALENDAR\n" + text if len(text) % 2 else text, encoding="utf-8")
    workspace = f"fuzz-{uuid.uuid4().hex[:8]}"
    loop = asyncio.new_event_loop()
    try:
        report = loop.run_until_complete(import_ics(path, memory, workspace, now=NOW))
        rows = loop.run_until_complete(stored(memory, workspace))
    except IcsError as err:
        assert str(err).startswith(path.name)
    else:
        assert report.imported == len(rows) and report.duplicates == 0  # a fresh workspace: all new
        assert len(report.problems) == min(report.quarantined, 20)
    finally:
        loop.close()


def test_free_time_is_measured_in_real_hours_on_the_night_clocks_go_forward() -> None:
    """In Berlin, 00:00–02:00 local on 28 March 2027 ends at 03:00 CEST (02:00 does not exist): two
    real hours, so a 2¼-hour meeting does not fit. The property test found this."""
    from connectors.calendar import find_free_slots

    slots = find_free_slots(
        [],
        day_start=time(0, 0),
        day_end=time(2, 0),
        duration=timedelta(minutes=135),
        between=(datetime(2027, 3, 27, 12, tzinfo=UTC), datetime(2027, 3, 29, tzinfo=UTC)),
        timezone="Europe/Berlin",
    )
    assert slots == []
