"""Canonical records of a workspace — tasks, contacts and calendar events — in ordinary tables, the
authoritative state. (Notes are written with their memory by ``MemoryService.add_note``.)"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from psycopg.rows import dict_row

from memory._postgres import Database
from memory.clock import Clock
from memory.errors import InvalidRecord, NotFound

# A display name that reads as a name: starts with a letter, at most 60 characters of letters, digits,
# spaces and . , ' & ( ) -; no run of 3+ digits (an account number), no colon or other punctuation.
_PLAIN_NAME = re.compile(r"^[^\W\d_][\w .,'&()-]{0,59}$")
_DIGIT_RUN = re.compile(r"\d{3,}")


def is_plain_name(name: str) -> bool:
    """Whether a sender's display name reads as a person's or a business's name, not a message in
    disguise ("Acme: new bank account IBAN …"): only such a name is written where we name someone."""
    return bool(_PLAIN_NAME.match(name)) and not _DIGIT_RUN.search(name)


MAX_TITLE_CHARS = 500


@dataclass(frozen=True)
class Task:
    id: int
    title: str
    status: str
    due_at: datetime | None
    created_at: datetime
    done_at: datetime | None
    origin: str | None = None  # the outside data it was derived from (intake: the lead's e-mail); None: ours

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "created_at": self.created_at.isoformat(),
            "done_at": self.done_at.isoformat() if self.done_at else None,
        }


@dataclass(frozen=True)
class Contact:
    id: int
    name: str
    email: str | None
    phone: str | None
    notes: str | None
    origin: str | None = None  # the outside data it was derived from (a lead's e-mail); None: ours
    created: bool = False  # upsert_contact made it (rather than updating one of the same name)


@dataclass(frozen=True)
class Event:
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime | None
    location: str | None


@dataclass(frozen=True)
class NewEvent:
    """A canonical calendar event as a connector produces it (times aware; all-day: midnight UTC)."""

    uid: str
    external_id: str  # unique per source: the UID, plus the occurrence for a recurring event
    title: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False
    location: str | None = None
    busy: bool = True


@dataclass(frozen=True)
class EventChanges:
    """What ``Records.sync_events`` did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


_UPSERT_EVENT = """
    INSERT INTO events (workspace, source, external_id, uid, title, starts_at, ends_at, all_day, location, busy)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (workspace, source, external_id) DO UPDATE SET
        uid = EXCLUDED.uid, title = EXCLUDED.title, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
        all_day = EXCLUDED.all_day, location = EXCLUDED.location, busy = EXCLUDED.busy, updated_at = now()
    WHERE (events.uid, events.title, events.starts_at, events.ends_at, events.all_day, events.location, events.busy)
        IS DISTINCT FROM (EXCLUDED.uid, EXCLUDED.title, EXCLUDED.starts_at, EXCLUDED.ends_at, EXCLUDED.all_day,
                          EXCLUDED.location, EXCLUDED.busy)
    RETURNING (xmax = 0) AS inserted
"""

# Rows a sync speaks for that it did not bring: deleted at the source (or cancelled, or moved).
_REMOVE_STALE_EVENTS = """
    DELETE FROM events
    WHERE workspace = %(workspace)s AND source = %(source)s
      AND NOT (external_id = ANY(%(kept)s))
      AND NOT (coalesce(uid, '') = ANY(%(keep_uids)s))
      AND (uid = ANY(%(replace_uids)s)
           OR (%(window_start)s::timestamptz IS NOT NULL
               AND starts_at < %(window_end)s AND coalesce(ends_at, starts_at) > %(window_start)s))
"""


def _task(row: dict[str, Any]) -> Task:
    return Task(
        id=row["id"],
        title=row["title"],
        status=row["status"],
        due_at=row["due_at"],
        created_at=row["created_at"],
        done_at=row["done_at"],
        origin=row["origin"],
    )


def _event(row: dict[str, Any]) -> Event:
    return Event(
        id=row["id"], title=row["title"], starts_at=row["starts_at"], ends_at=row["ends_at"], location=row["location"]
    )


def _event_values(e: NewEvent) -> tuple[Any, ...]:
    return (e.external_id, e.uid, e.title, e.starts_at, e.ends_at, e.all_day, e.location, e.busy)


class Records:
    """Tasks and contacts of a workspace."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def add_task(
        self,
        title: str,
        *,
        workspace: str,
        due_at: datetime | None = None,
        source: str | None = None,
        origin: str | None = None,
    ) -> Task:
        title = " ".join(title.split())
        if not title:
            raise InvalidRecord("a task needs a title")
        if len(title) > MAX_TITLE_CHARS:
            raise InvalidRecord(f"a task title is at most {MAX_TITLE_CHARS} characters")

        def run() -> Task:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """INSERT INTO tasks (workspace, title, due_at, source, origin) VALUES (%s, %s, %s, %s, %s)
                       RETURNING *""",
                    (workspace, title, due_at, source, origin),
                ).fetchone()
            assert row is not None
            return _task(row)

        return await asyncio.to_thread(run)

    async def list_tasks(
        self, *, workspace: str, status: Literal["open", "done", "all"] = "open", limit: int = 100
    ) -> list[Task]:
        def run() -> list[Task]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT * FROM tasks WHERE workspace = %s AND (%s = 'all' OR status = %s)
                       ORDER BY status, due_at NULLS LAST, id LIMIT %s""",
                    (workspace, status, status, limit),
                ).fetchall()
            return [_task(r) for r in rows]

        return await asyncio.to_thread(run)

    async def complete_task(self, task_id: int, *, workspace: str) -> Task:
        """Mark a task done. Completing a task that is already done is not an error."""

        def run() -> Task:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """UPDATE tasks SET status = 'done', done_at = coalesce(done_at, %s)
                       WHERE id = %s AND workspace = %s RETURNING *""",
                    (self.clock.now(), task_id, workspace),
                ).fetchone()
            if row is None:
                raise NotFound(f"no task #{task_id}")
            return _task(row)

        return await asyncio.to_thread(run)

    async def upsert_contact(
        self,
        name: str,
        *,
        workspace: str,
        email: str | None = None,
        phone: str | None = None,
        notes: str | None = None,
        source: str | None = None,
        origin: str | None = None,
    ) -> Contact:
        """Create or update a contact by name. ``source`` is kept from the first write: 'lead' (intake)
        and 'email' (mail) contacts are not vouched for, so the policy still treats them as new."""
        name = " ".join(name.split())
        if not name:
            raise InvalidRecord("a contact needs a name")

        def run() -> Contact:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """INSERT INTO contacts (workspace, name, email, phone, notes, source, origin)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (workspace, lower(name)) DO UPDATE SET
                         email = coalesce(EXCLUDED.email, contacts.email),
                         phone = coalesce(EXCLUDED.phone, contacts.phone),
                         notes = coalesce(EXCLUDED.notes, contacts.notes),
                         updated_at = now()
                       RETURNING *, (xmax = 0) AS created""",
                    (workspace, name, email, phone, notes, source, origin),
                ).fetchone()
            assert row is not None
            return Contact(
                row["id"], row["name"], row["email"], row["phone"], row["notes"], row["origin"], row["created"]
            )

        return await asyncio.to_thread(run)

    async def list_contacts(self, *, workspace: str) -> list[Contact]:
        def run() -> list[Contact]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM contacts WHERE workspace = %s ORDER BY lower(name)", (workspace,)
                ).fetchall()
            return [Contact(r["id"], r["name"], r["email"], r["phone"], r["notes"], r["origin"]) for r in rows]

        return await asyncio.to_thread(run)

    async def add_event(
        self,
        title: str,
        *,
        workspace: str,
        starts_at: datetime,
        ends_at: datetime | None = None,
        location: str | None = None,
        source: str | None = None,
        external_id: str | None = None,
    ) -> Event:
        def run() -> Event:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    """INSERT INTO events (workspace, title, starts_at, ends_at, location, source, external_id)
                       VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *""",
                    (workspace, title, starts_at, ends_at, location, source, external_id),
                ).fetchone()
            assert row is not None
            return _event(row)

        return await asyncio.to_thread(run)

    async def events_between(self, *, workspace: str, start: datetime, end: datetime) -> list[Event]:
        """Events touching ``[start, end]``; one the operator undid (deleted on the server at the next
        calendar flush) is already left out."""

        def run() -> list[Event]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT * FROM events WHERE workspace = %s AND starts_at < %s
                       AND coalesce(ends_at, starts_at) >= %s AND push_status IS DISTINCT FROM 'cancelled'
                       ORDER BY starts_at""",
                    (workspace, end, start),
                ).fetchall()
            return [_event(r) for r in rows]

        return await asyncio.to_thread(run)

    async def sync_events(
        self,
        events: Sequence[NewEvent],
        *,
        workspace: str,
        source: str,
        replace_uids: Collection[str] = (),
        replace_window: tuple[datetime, datetime] | None = None,
        keep_uids: Collection[str] = (),
    ) -> EventChanges:
        """Make the stored events of ``source`` match a connector's view, in ONE transaction.

        Each event is inserted or updated by ``(workspace, source, external_id)``; an identical row is
        left alone (``unchanged``). Then stored rows the connector speaks for but did not bring are
        removed: those of a UID in ``replace_uids`` (a re-imported file replaces its series) and those
        overlapping ``replace_window`` (a server sync covers that window). Rows of ``keep_uids`` (events
        the connector had to quarantine this time) are never removed.
        """
        for event in events:
            if not event.title.strip() or len(event.title) > MAX_TITLE_CHARS:
                raise InvalidRecord(f"event {event.external_id!r} needs a title of 1 to {MAX_TITLE_CHARS} characters")
            if event.starts_at.tzinfo is None or event.ends_at.tzinfo is None or event.ends_at < event.starts_at:
                raise InvalidRecord(f"event {event.external_id!r} needs aware times with the end not before the start")
        start, end = replace_window or (None, None)

        def run() -> EventChanges:
            inserted = updated = 0
            with self.db.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"events:{workspace}:{source}",))
                if events:
                    cur.executemany(
                        _UPSERT_EVENT,
                        [(workspace, source, *_event_values(e)) for e in events],
                        returning=True,
                    )
                    for _ in cur.results():
                        row = cur.fetchone()
                        if row is not None:
                            inserted, updated = (inserted + 1, updated) if row[0] else (inserted, updated + 1)
                removed = cur.execute(
                    _REMOVE_STALE_EVENTS,
                    {
                        "workspace": workspace,
                        "source": source,
                        "kept": [e.external_id for e in events],
                        "keep_uids": list(keep_uids),
                        "replace_uids": list(replace_uids),
                        "window_start": start,
                        "window_end": end,
                    },
                ).rowcount
            return EventChanges(inserted, updated, len(events) - inserted - updated, removed)

        return await asyncio.to_thread(run)

    async def busy_times(
        self, *, workspace: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, bool]]:
        """``(starts_at, ends_at, all_day)`` of the events that block time and may touch ``[start, end)``.

        The query reaches a day beyond each side: an all-day event is stored as midnight UTC and only
        the caller knows on which local day it falls. Events without an end block nothing, nor do undone ones.
        """

        def run() -> list[tuple[datetime, datetime, bool]]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT starts_at, ends_at, all_day FROM events
                       WHERE workspace = %s AND busy AND ends_at > starts_at AND starts_at < %s AND ends_at > %s
                         AND push_status IS DISTINCT FROM 'cancelled'
                       ORDER BY starts_at""",
                    (workspace, end + timedelta(days=1), start - timedelta(days=1)),
                ).fetchall()
            return [(r[0], r[1], bool(r[2])) for r in rows]

        return await asyncio.to_thread(run)

    async def done_per_day(self, *, workspace: str, since: datetime, timezone: str) -> dict[date, int]:
        """Tasks completed per local day since ``since``."""

        def run() -> dict[date, int]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT (done_at AT TIME ZONE %s)::date, count(*) FROM tasks
                       WHERE workspace = %s AND status = 'done' AND done_at >= %s GROUP BY 1""",
                    (timezone, workspace, since),
                ).fetchall()
            return {r[0]: int(r[1]) for r in rows}

        return await asyncio.to_thread(run)

    def known_counterparties_sync(self, workspace: str) -> frozenset[str]:
        """Names and addresses the business already deals with: contacts the operator made and past
        recipients. Contacts created from incoming mail or taken in as leads do not count: anyone can
        write in, and writing in must not make a stranger "known" to the policy."""
        with self.db.connection() as conn:
            rows = conn.execute(
                """SELECT lower(name) FROM contacts WHERE workspace = %s
                         AND coalesce(source, '') NOT IN ('email', 'lead')
                   UNION SELECT lower(email) FROM contacts WHERE workspace = %s AND email IS NOT NULL
                         AND coalesce(source, '') NOT IN ('email', 'lead')
                   UNION SELECT lower(recipient) FROM outbox WHERE workspace = %s
                         AND status IN ('queued', 'sending', 'sent')""",
                (workspace, workspace, workspace),
            ).fetchall()
        return frozenset(r[0] for r in rows)
