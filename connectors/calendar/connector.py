"""The calendar connector: CalDAV read/write through the ``caldav`` library.

Two layers, as for every connector: ``CalDAV`` (``client``) wraps the blocking ``caldav`` client (run in
``asyncio.to_thread``, one call at a time) and translates its exceptions into ``CalendarError``
with a message for the operator; ``CalendarConnector`` maps what it fetches into canonical events
(``connectors.calendar.ics.parse_ics``) and carries out the writes the policy gate allowed.

- ``read`` mirrors the calendar into the ``events`` table for a window (``past`` before now to
  ``ahead`` after it): new and changed events are upserted, events deleted on the server (or
  cancelled) are removed. A VEVENT that fails validation is quarantined and its stored copy kept;
  when a server object cannot be parsed at all, nothing is removed in that sync.
- ``write`` handles ``event.create`` (args ``title``, ``starts_at``, ``ends_at`` as ISO 8601 with an
  offset or with a ``timezone`` arg, optional ``location`` and ``attendee``) and ``event.delete`` (arg
  ``uid``). The created event's UID is derived from the idempotency key, so a retried write finds the
  event it already made instead of adding a second one.
- ``flush`` carries out what the policy gate recorded (``calendar.create`` in ``agents.gate.executors``; see ``push``):
  'pending' events are created on the server with the gate's key, then handed to the sync (source
  'caldav', same UID), so ``read`` updates that one row instead of adding a copy; events undone after
  they reached the server ('cancelled') are deleted there and then here. When the server cannot be
  used the row keeps its status and the reason (``push_error``), and the next flush tries again.
- ``undo`` executes the handles ``write`` returns (``calendar.event.delete``,
  ``calendar.event.restore``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from connectors.base import Capability, Connector, Health, ReadReport
from connectors.calendar.client import CALDAV_SOURCE, CalDAV, create_event, delete_event, fetch_events
from connectors.calendar.config import CalendarConfig
from connectors.calendar.drafts import new_event
from connectors.calendar.ics import MAX_REPORTED_PROBLEMS, import_ics, parse_ics
from connectors.calendar.push import Waiting, forget, hand_to_sync, note_error, waiting
from connectors.checks import MAX_UID_CHARS, text_arg
from connectors.effects import Outcome, event_uid
from connectors.errors import CalendarError, ConnectorError, IcsError
from memory import Clock, NewEvent
from policies.engine import Action

if TYPE_CHECKING:
    from memory import Database, MemoryService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport(ReadReport):
    removed: int = 0  # events deleted or cancelled on the server, removed locally


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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.db, self.workspace = db, workspace  # where gated writes are recorded (see ``flush``)
        self.past, self.ahead = past, ahead
        self.clock = clock or Clock().now  # the registry passes ``memory.clock.now``
        self._dav = CalDAV(config, timeout)

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
        objects = await asyncio.to_thread(self._dav.call, lambda cal: fetch_events(cal, fetch))
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
        """Import an .ics file into ``events`` (``connectors.calendar.ics.import_ics``)."""
        return await import_ics(path, memory, workspace, timezone=self.config.timezone, now=self.clock())

    async def write(self, action: Action, idempotency_key: str) -> Outcome:
        if action.type == "event.create":
            event = new_event(action.args, uid=event_uid(idempotency_key), now=self.clock())
            return await asyncio.to_thread(self._dav.call, lambda cal: create_event(cal, event))
        if action.type == "event.delete":
            uid = text_arg(action.args, "uid", MAX_UID_CHARS, one_line=True)
            if "#" in uid:
                raise CalendarError(
                    "that is one occurrence of a repeating event; SoloOS deletes whole events only "
                    "(give the UID before '#' to delete the series)"
                )
            return await asyncio.to_thread(self._dav.call, lambda cal: delete_event(cal, uid))
        raise ConnectorError(f"the calendar connector cannot do {action.type!r}")

    async def flush(self, memory: MemoryService, workspace: str) -> int:
        """Carry out the calendar writes the gate recorded: create the 'pending' events on the server and
        delete the 'cancelled' ones there (and then here). Returns how many events reached the server.

        A server that cannot be used stops the round: the event keeps its status, the reason is noted
        on it (``push_error``) and the ``CalendarError`` is raised, so the sync reports it; the next
        flush tries again. An event the server will never take is marked 'failed' and reported too.
        """
        pushed, refused = 0, list[str]()
        for item in await asyncio.to_thread(waiting, memory.db, workspace):
            try:
                if item.cancelled:
                    await self._delete(memory.db, item)
                else:
                    pushed += await self._push(memory.db, workspace, item)
            except CalendarError as err:
                await asyncio.to_thread(note_error, memory.db, item, str(err), give_up=False)
                log.warning("calendar flush for %s stopped after %d pushed: %s", workspace, pushed, err)
                raise
            except ConnectorError as err:
                await asyncio.to_thread(note_error, memory.db, item, str(err), give_up=True)
                refused.append(f"the event “{item.title}” cannot be put on the server: {err}")
        if refused:
            raise ConnectorError("; ".join(refused))
        return pushed

    async def _push(self, db: Database, workspace: str, item: Waiting) -> int:
        await self.write(item.action(), item.key)  # the key gives the UID: pushing twice finds the first
        status = await asyncio.to_thread(hand_to_sync, db, workspace, item)
        if status is None:  # undone while it was on its way: take it off the server again
            await self.write(Action("event.delete", {"uid": item.uid}), f"undo:{item.key}")
        return 1 if status == "pushed" else 0

    async def _delete(self, db: Database, item: Waiting) -> None:
        await self.write(Action("event.delete", {"uid": item.uid}), f"undo:{item.key}")
        await asyncio.to_thread(forget, db, item)

    async def undo(self, handle: dict[str, Any]) -> str:
        """Reverse a write from its undo handle; returns a sentence, or raises ``ConnectorError``."""
        kind = handle.get("kind")
        if kind == "calendar.event.delete":
            uid = str(handle.get("uid", ""))
            outcome = await asyncio.to_thread(self._dav.call, lambda cal: delete_event(cal, uid))
            return "the event was removed from the calendar" if outcome.undo else "the event was already gone"
        if kind == "calendar.event.restore":
            ical = str(handle.get("ical", ""))
            await asyncio.to_thread(self._dav.call, lambda cal: cal.add_event(ical, increase_seqno=False))
            return "the event is back in the calendar"
        raise ConnectorError(f"don't know how to undo {kind!r}")


if TYPE_CHECKING:

    def _is_a_connector(connector: CalendarConnector) -> Connector:  # checked by mypy, never run
        return connector


__all__ = ["CalendarConnector", "SyncReport"]
