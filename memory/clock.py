"""The one clock. Every "now" and "today" in SoloOS is read from a ``Clock``.

The composition root makes one and hands it down (``MemoryService.clock``; everything that holds
the memory service holds the clock). Tests move time with ``time-machine`` instead of pinning dates
the code would compare with the real ones; CI runs the time-sensitive tests at other moments too
(``--clock-at``, see ``tests/conftest.py``). Leases and claims that the database both writes and
checks stay on the database's ``now()``: they measure elapsed time, not the operator's calendar.
Where SQL compares with a time Python computed from the clock (working memory's expiry, a plan
step's retry time, a delivery's fire time), the clock's now is passed in as a parameter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


class Clock:
    """The wall clock, aware and in UTC unless a zone is asked for."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def local(self, timezone: str) -> datetime:
        """Now on the wall clock of ``timezone`` (an IANA name)."""
        return self.now().astimezone(ZoneInfo(timezone))

    def today(self, timezone: str = "UTC") -> date:
        """The date it is in ``timezone``."""
        return self.local(timezone).date()


__all__ = ["Clock"]
