"""Consolidation runs on a schedule, in one process per database, and can be turned off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from agents.consolidation import Consolidated, Consolidation
from bot.app import App
from bot.consolidator import Consolidator, next_run
from bot.settings import Settings


class Counted(Consolidation):
    def __init__(self, app: App) -> None:
        super().__init__(app.memory, app.gate, operator="tester", timezone="Europe/Berlin")
        self.runs = 0

    async def run(self, workspace: str) -> Consolidated:
        self.runs += 1
        return await super().run(workspace)


def _consolidator(app: App, workspace: str, consolidation: Consolidation, at: time | None) -> Consolidator:
    return Consolidator(
        consolidation, workspace=workspace, timezone="Europe/Berlin", at=at, conninfo=app.memory.db.target.conninfo
    )


def test_the_next_run_is_the_next_local_time_across_a_clock_change() -> None:
    # 29 March 2026: Berlin moves from UTC+1 to UTC+2 at 02:00
    assert next_run(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), time(3, 30), "Europe/Berlin") == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert next_run(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), time(3, 30), "Europe/Berlin") == datetime(
        2026, 3, 30, 1, 30, tzinfo=UTC
    )


async def test_one_process_consolidates_on_taking_the_lead_and_off_means_never(app: App, workspace: str) -> None:
    first, second, never = Counted(app), Counted(app), Counted(app)
    leaders = [_consolidator(app, workspace, c, time(3, 30)) for c in (first, second)]
    off = _consolidator(app, workspace, never, None)
    for job in (*leaders, off):
        await job.start()
    try:
        for _ in range(200):
            if first.runs + second.runs:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        for job in (*leaders, off):
            await job.stop()
    assert first.runs + second.runs == 1  # the leader ran once on taking the lead; the other waits
    assert never.runs == 0


def test_the_consolidation_time_is_checked() -> None:
    assert Settings(_env_file=None, consolidate_at="off").consolidate_time is None  # type: ignore[call-arg]
    assert Settings(_env_file=None, consolidate_at="04:15").consolidate_time == time(4, 15)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not a time of day"):
        Settings(_env_file=None, consolidate_at="midnightish")  # type: ignore[call-arg]
