"""Runs consolidation (``agents.consolidation``) every night at ``SOLOOS_CONSOLIDATE_AT`` in the
operator's zone, in one process per database: the lead is held on a connection of its own
(``bot.leadership``), like the connector sync. A process that takes the lead runs once at once (a
night missed while nothing ran is made up), then at each planned time; a run the database cuts off is
tried again after ``retry``. Runs are idempotent, so a run twice (a lead changing hands) costs nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from agents.consolidation import Consolidation
from bot.background import Background
from bot.leadership import hold, lead

log = logging.getLogger(__name__)

RETRY = timedelta(minutes=1)


def next_run(now: datetime, at: time, timezone: str) -> datetime:
    """The next ``at`` (local wall time in ``timezone``) after ``now``."""
    local = now.astimezone(ZoneInfo(timezone))
    planned = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
    if planned <= local:
        planned = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=local.tzinfo)
    return planned


class Consolidator(Background):
    name = "consolidation"

    def __init__(
        self,
        consolidation: Consolidation,
        *,
        workspace: str,
        timezone: str,
        at: time | None,
        conninfo: str,
        retry: timedelta = RETRY,
    ) -> None:
        self.consolidation = consolidation
        self.workspace = workspace
        self.timezone = timezone
        self.at = at  # None: off
        self.conninfo = conninfo
        self.retry = retry
        super().__init__()

    async def _run(self) -> None:
        if self.at is None:
            return
        await lead(
            self.conninfo,
            f"consolidate:{self.workspace}",
            self._rounds,
            retry=self.retry.total_seconds(),
            step_down=_nothing,
        )

    async def _rounds(self, conn: psycopg.AsyncConnection[Any]) -> None:
        assert self.at is not None
        while True:
            try:
                await self.consolidation.run(self.workspace)
            except Exception as err:  # the database went away mid-run: what was marked stays marked
                log.warning("consolidation failed (%s); trying again in %ss", err, self.retry.total_seconds())
                await hold(conn, self.retry.total_seconds())
                continue
            now = self.consolidation.memory.clock.now()
            await hold(conn, (next_run(now, self.at, self.timezone) - now).total_seconds())


def _nothing() -> None:
    """Consolidation keeps no state to drop when it loses the lead."""


__all__ = ["Consolidator", "next_run"]
