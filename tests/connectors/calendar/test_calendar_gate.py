"""Calendar writes through the policy gate: judged by the default policy, recorded as 'pending' by the
gate's ``calendar.create`` executor, and put on a real CalDAV server (Radicale) by the connector's
``flush``, which is what the sync runs every few minutes."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from caldav.collection import Calendar
from psycopg.rows import dict_row
from pydantic import SecretStr

from agents.gate import Executed, Gate
from bot.app import App
from connectors import ConnectorError
from connectors.calendar import CalendarConfig, CalendarConnector, CalendarError
from connectors.effects import event_uid
from connectors.registry import connect, saved
from memory import MemoryService
from policies.engine import Action
from tests.support.caldav_server import CalDAVServer, free_port

OPERATOR = "op-calendar"
BERLIN = ZoneInfo("Europe/Berlin")  # the test settings' time zone
BEA = "bea@example.com"
ADDED = "added to your calendar (it reaches the server within minutes)"
TODAY = datetime.now(BERLIN).date()  # fixed once, so a test running over midnight agrees with itself


def at(days: int, hour: int) -> datetime:
    """``hour`` o'clock in Berlin, ``days`` from today."""
    return datetime.combine(TODAY + timedelta(days=days), time(hour), BERLIN)


def meeting(attendee: str | None = BEA, **changes: str) -> Action:
    """A kick-off in three days, 10:00–11:00 Berlin time, with ``attendee`` as the counterparty."""
    args = {"title": "Kick-off with Bea", "starts_at": at(3, 10).isoformat(), "ends_at": at(3, 11).isoformat()}
    args |= {"location": "Café Luna", **changes}
    if attendee:
        args["attendee"] = attendee
    return Action("calendar.create", args, f"add {args['title']!r} to the calendar", counterparty=attendee)


def outcome(title: str, start: datetime, where: str = ADDED, attendee: str | None = BEA) -> str:
    invites = f", inviting {attendee}," if attendee else ""  # issue 14: the outcome names every invitee
    return f"event “{title}” on {start:%a %d %b %Y %H:%M %Z}{invites} {where}"


@pytest.fixture
def gate(app: App) -> Gate:
    """The application's gate and default policy without quiet hours, so the judged level does not
    depend on the time of day the test runs."""
    return dataclasses.replace(app.gate, policy=app.gate.policy.model_copy(update={"quiet_hours": None}))


@pytest.fixture
async def connector(
    server: CalDAVServer, calendar: Calendar, memory: MemoryService, workspace: str
) -> AsyncIterator[CalendarConnector]:
    """The calendar connected as ``soloos connect calendar`` does it, built from the saved settings as
    the sync builds it."""
    settings = {
        "url": server.url,
        "username": server.username,
        "password": server.password,
        "calendar": str(calendar.get_display_name()),
    }
    await connect(memory, workspace, "calendar", settings)
    built = await saved(memory, workspace, "calendar")
    assert isinstance(built, CalendarConnector)
    yield built
    await built.aclose()


async def execute(gate: Gate, action: Action, workspace: str, key: str) -> Executed:
    def run() -> Executed:
        decision = gate.judge(action, workspace=workspace, mode="deterministic")
        return gate.execute(action, workspace=workspace, operator=OPERATOR, intent_key=None, decision=decision, key=key)

    return await asyncio.to_thread(run)


async def undo(gate: Gate, workspace: str) -> str:
    return await gate.undo_last(workspace=workspace, operator=OPERATOR)


async def rows(memory: MemoryService, workspace: str) -> list[dict[str, Any]]:
    """The workspace's events as stored, oldest first."""

    def run() -> list[dict[str, Any]]:
        with memory.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                """SELECT title, starts_at, ends_at, location, attendee, source, uid, push_status, push_error
                   FROM events WHERE workspace = %s ORDER BY id""",
                (workspace,),
            ).fetchall()

    return await asyncio.to_thread(run)


async def on_server(calendar: Calendar) -> list[dict[str, str]]:
    """UID, title, start, location and attendee of every event on the server."""

    def run() -> list[dict[str, str]]:
        found = calendar.get_events()
        assert isinstance(found, list)
        components = [e.icalendar_component for e in found]
        keys = ("UID", "SUMMARY", "LOCATION", "ATTENDEE")
        return sorted(
            ({k: str(c.get(k, "")) for k in keys} | {"DTSTART": c.start.isoformat()} for c in components),
            key=lambda e: e["UID"],
        )

    return await asyncio.to_thread(run)


# -- the policy ------------------------------------------------------------------------------------


async def test_an_event_alone_is_notify_and_inviting_anyone_asks_first(
    gate: Gate, memory: MemoryService, workspace: str
) -> None:
    await memory.records.upsert_contact("Bea Berg", workspace=workspace, email=BEA)

    async def judge(action: Action) -> tuple[str, str]:
        decision = await asyncio.to_thread(gate.judge, action, workspace=workspace, mode="deterministic")
        return decision.level, decision.reason

    known, new, alone = await judge(meeting()), await judge(meeting("mallory@example.net")), await judge(meeting(None))
    assert alone[0] == "notify"
    # issue 14: an invitation notifies someone at once, so even a known contact waits for the operator
    assert known == ("approve", f"policy 'default' sets calendar.create to notify; it invites {BEA}")
    assert new == (
        "approve",
        "policy 'default' sets calendar.create to notify; mallory@example.net is a new counterparty",
    )


# -- execute, flush, read --------------------------------------------------------------------------


async def test_an_executed_event_waits_and_reaches_the_server_at_the_next_flush(
    gate: Gate, connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    key = f"{workspace}:step-1"
    done = await execute(gate, meeting(), workspace, key)
    assert done.summary == outcome("Kick-off with Bea", at(3, 10))
    uid = event_uid(key)
    expected = {
        "title": "Kick-off with Bea",
        "starts_at": at(3, 10),
        "ends_at": at(3, 11),
        "location": "Café Luna",
        "attendee": BEA,
        "uid": uid,
    }
    assert await rows(memory, workspace) == [
        {**expected, "source": "soloos", "push_status": "pending", "push_error": None}
    ]
    assert await on_server(calendar) == []

    assert await connector.flush(memory, workspace) == 1
    assert await on_server(calendar) == [
        {
            "UID": uid,
            "SUMMARY": "Kick-off with Bea",
            "LOCATION": "Café Luna",
            "ATTENDEE": f"mailto:{BEA}",
            "DTSTART": at(3, 10).astimezone(UTC).isoformat(),
        }
    ]
    pushed = {**expected, "source": "caldav", "push_status": "pushed", "push_error": None}
    assert await rows(memory, workspace) == [pushed]

    report = await connector.read(memory, workspace)
    assert (report.imported, report.duplicates, report.removed) == (0, 1, 0)
    assert await rows(memory, workspace) == [pushed]  # the sync recognises the event: still one row
    assert await connector.flush(memory, workspace) == 0  # nothing waits any more


async def test_executing_the_same_key_twice_makes_one_event(
    gate: Gate, connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    key = f"{workspace}:step-1"
    first = await execute(gate, meeting(), workspace, key)
    again = await execute(gate, meeting(), workspace, key)
    assert (first.repeated, again.repeated, again.summary) == (False, True, first.summary)
    assert len(await rows(memory, workspace)) == 1
    assert await connector.flush(memory, workspace) == 1
    assert [e["UID"] for e in await on_server(calendar)] == [event_uid(key)]


async def test_a_flush_that_stopped_after_the_push_does_not_make_a_second_event(
    gate: Gate, connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    """A crash between the push and the status update: the event is on the server (and a read may
    have brought it in) but its row still says 'pending'. The next flush finds it by its UID."""
    key = f"{workspace}:step-1"
    action = meeting()
    await execute(gate, action, workspace, key)
    await connector.write(Action("event.create", action.args), key)  # the push before the crash
    await connector.read(memory, workspace)

    assert await connector.flush(memory, workspace) == 1
    assert [e["UID"] for e in await on_server(calendar)] == [event_uid(key)]
    assert [(r["source"], r["push_status"]) for r in await rows(memory, workspace)] == [("caldav", "pushed")]


async def test_without_a_connected_calendar_the_outcome_says_the_event_stays_in_soloos(
    gate: Gate, memory: MemoryService, workspace: str
) -> None:
    key = f"{workspace}:step-1"
    done = await execute(gate, meeting(None), workspace, key)
    where = "saved in SoloOS; no calendar server is connected yet (`soloos connect calendar` puts it there)"
    assert done.summary == outcome("Kick-off with Bea", at(3, 10), where, attendee=None)
    assert [r["push_status"] for r in await rows(memory, workspace)] == ["pending"]


# -- undo ------------------------------------------------------------------------------------------


async def test_undo_before_the_flush_keeps_the_event_off_the_server(
    gate: Gate, connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    key = f"{workspace}:step-1"
    done = await execute(gate, meeting(), workspace, key)
    reply = await undo(gate, workspace)
    assert reply == f"Undone: {done.summary} — the event was removed before it reached your calendar server."
    assert await rows(memory, workspace) == []
    assert await connector.flush(memory, workspace) == 0
    assert await on_server(calendar) == []


async def test_undo_after_the_flush_deletes_the_event_on_the_server_at_the_next_flush(
    gate: Gate, connector: CalendarConnector, calendar: Calendar, memory: MemoryService, workspace: str
) -> None:
    key = f"{workspace}:step-1"
    done = await execute(gate, meeting(), workspace, key)
    await connector.flush(memory, workspace)
    reply = await undo(gate, workspace)
    assert reply == f"Undone: {done.summary} — the event is deleted from your calendar server within minutes."

    week = (at(0, 0), at(7, 0))
    assert await memory.records.events_between(workspace=workspace, start=week[0], end=week[1]) == []
    assert await memory.records.busy_times(workspace=workspace, start=week[0], end=week[1]) == []
    await connector.read(memory, workspace)  # still on the server: the sync neither revives nor copies it
    assert [r["push_status"] for r in await rows(memory, workspace)] == ["cancelled"]
    assert len(await on_server(calendar)) == 1

    assert await connector.flush(memory, workspace) == 0
    assert await on_server(calendar) == []
    assert await rows(memory, workspace) == []
    assert await undo(gate, workspace) == "There is nothing I can undo."


async def test_undo_while_the_flush_is_pushing_takes_the_event_off_the_server_again(
    gate: Gate,
    connector: CalendarConnector,
    calendar: Calendar,
    memory: MemoryService,
    workspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"{workspace}:step-1"
    await execute(gate, meeting(), workspace, key)
    push = connector.write

    async def push_then_undo(action: Action, idempotency_key: str) -> Any:
        done = await push(action, idempotency_key)
        if action.type == "event.create":  # the operator's /undo lands while the event is on its way
            assert (await undo(gate, workspace)).startswith("Undone:")
            assert len(await on_server(calendar)) == 1
        return done

    monkeypatch.setattr(connector, "write", push_then_undo)
    assert await connector.flush(memory, workspace) == 0
    assert await on_server(calendar) == []
    assert await rows(memory, workspace) == []


# -- failures --------------------------------------------------------------------------------------


async def test_a_server_that_is_down_leaves_the_event_waiting_with_the_reason(
    gate: Gate,
    server: CalDAVServer,
    connector: CalendarConnector,
    calendar: Calendar,
    memory: MemoryService,
    workspace: str,
) -> None:
    key = f"{workspace}:step-1"
    await execute(gate, meeting(), workspace, key)
    nobody = f"http://127.0.0.1:{free_port()}/"
    down = CalendarConnector(
        CalendarConfig(url=nobody, username=server.username, password=SecretStr(server.password)), timeout=3
    )
    with pytest.raises(CalendarError, match="cannot reach the CalDAV server"):
        await down.flush(memory, workspace)
    await down.aclose()
    [waiting] = await rows(memory, workspace)
    assert (waiting["source"], waiting["push_status"]) == ("soloos", "pending")
    assert waiting["push_error"].startswith(f"cannot reach the CalDAV server at {nobody} (connection refused)")
    assert await on_server(calendar) == []

    assert await connector.flush(memory, workspace) == 1  # the server is back
    [pushed] = await rows(memory, workspace)
    assert (pushed["source"], pushed["push_status"], pushed["push_error"]) == ("caldav", "pushed", None)
    assert [e["UID"] for e in await on_server(calendar)] == [event_uid(key)]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: meeting(ends_at=at(3, 9).isoformat()), "the event must end after it starts"),
        (lambda: meeting(starts_at="next Tuesday at ten"), "starts_at 'next Tuesday at ten' is not an ISO 8601 time"),
        (lambda: meeting(ends_at="2030-02-30T11:00+01:00"), "ends_at '2030-02-30T11:00+01:00' is not an ISO 8601 time"),
        (lambda: meeting(starts_at=at(3, 10).replace(tzinfo=None).isoformat()), "has no UTC offset"),
        (lambda: meeting(starts_at=at(-3, 10).isoformat(), ends_at=at(-3, 11).isoformat()), "start in the past"),
        (lambda: meeting(ends_at=at(40, 11).isoformat()), "longer than 31 days"),
        (lambda: meeting(title="   "), "title is missing"),
        (lambda: meeting("bea at example"), "attendee 'bea at example' is not an e-mail address"),
        (
            lambda: dataclasses.replace(meeting(), counterparty=None),
            "the attendee bea@example.com must be the action's counterparty",
        ),
    ],
)
async def test_invalid_arguments_are_refused_with_the_reason_and_nothing_is_written(
    gate: Gate, memory: MemoryService, workspace: str, make: Callable[[], Action], problem: str
) -> None:
    key = f"{workspace}:step-1"
    with pytest.raises(ConnectorError, match=re.escape(problem)):
        await execute(gate, make(), workspace, key)
    assert await rows(memory, workspace) == []
    retried = await execute(gate, meeting(), workspace, key)  # the refused try used up nothing
    assert not retried.repeated and len(await rows(memory, workspace)) == 1


async def test_the_coordinator_inviting_someone_new_waits_for_approval(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.support.chat import FakeChat
    from tests.support.models import Script, call, say

    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    app = with_model(
        Script(
            [
                call(
                    "create_event",
                    title="Kick-off with Newco",
                    starts_at=start.isoformat(),
                    ends_at=(start + timedelta(hours=1)).isoformat(),
                    attendee_email="ceo@newco.test",
                ),
                say("I've asked for your approval to invite Newco."),
            ]
        )
    )
    await FakeChat(app, workspace).say("set up a kick-off call with Newco on Friday")
    [pending] = await app.gate.pending(workspace)
    assert pending.action.type == "calendar.create" and pending.action.counterparty == "ceo@newco.test"
    assert "ceo@newco.test is a new counterparty" in pending.reason

    def events() -> list[Any]:
        with app.memory.db.connection() as conn:
            return conn.execute("SELECT id FROM events WHERE workspace = %s", (workspace,)).fetchall()

    assert await asyncio.to_thread(events) == []  # nothing is in the calendar until the operator approves
