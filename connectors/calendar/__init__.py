"""The calendar connector, laid out by role.

- ``config``: ``CalendarConfig``, what ``soloos connect calendar`` asks for.
- ``client``: the raw CalDAV layer (``caldav`` in a worker thread, its errors as ``CalendarError``).
- ``connector``: ``CalendarConnector`` (health, sync into ``events``, gated writes, undo, flush).
- ``drafts``: the arguments of a gated event write, checked.
- ``push``: the push outbox, events the gate recorded and the server has not seen yet.
- ``slots``: free time (``free_slots``, ``find_free_slots``).
- ``ics``: iCalendar text and files into canonical events (``parse_ics``, ``import_ics``).
"""

from connectors.calendar.config import CalendarConfig
from connectors.calendar.connector import CalendarConnector, SyncReport
from connectors.calendar.ics import ParsedCalendar, import_ics, parse_ics, read_ics, zone_named
from connectors.calendar.slots import find_free_slots, free_slots
from connectors.errors import CalendarError, IcsError

__all__ = [
    "CalendarConfig",
    "CalendarConnector",
    "CalendarError",
    "IcsError",
    "ParsedCalendar",
    "SyncReport",
    "find_free_slots",
    "free_slots",
    "import_ics",
    "parse_ics",
    "read_ics",
    "zone_named",
]
