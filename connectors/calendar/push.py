"""The calendar's push outbox: events the policy gate recorded ('pending', to create on the server)
or undid after they got there ('cancelled', to delete there), and the bookkeeping of a push."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connectors.calendar.client import CALDAV_SOURCE
from policies.engine import Action

if TYPE_CHECKING:
    from memory import Database


@dataclass(frozen=True)
class Waiting:
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


def waiting(db: Database, workspace: str, limit: int = 100) -> list[Waiting]:
    with db.connection() as conn:
        rows = conn.execute(
            """SELECT id, push_key, uid, title, starts_at, ends_at, location, attendee, push_status = 'cancelled'
               FROM events WHERE workspace = %s AND push_status IN ('pending', 'cancelled') ORDER BY id LIMIT %s""",
            (workspace, limit),
        ).fetchall()
    return [Waiting(*row) for row in rows]


def hand_to_sync(db: Database, workspace: str, item: Waiting) -> str | None:
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


def forget(db: Database, item: Waiting) -> None:
    with db.connection() as conn:
        conn.execute("DELETE FROM events WHERE id = %s AND push_status = 'cancelled'", (item.id,))


def note_error(db: Database, item: Waiting, error: str, *, give_up: bool) -> None:
    with db.connection() as conn:
        conn.execute(
            """UPDATE events SET push_error = %s, push_status = CASE WHEN %s THEN 'failed' ELSE push_status END
               WHERE id = %s AND push_status IN ('pending', 'cancelled')""",
            (error, give_up and not item.cancelled, item.id),
        )


__all__ = ["Waiting", "forget", "hand_to_sync", "note_error", "waiting"]
