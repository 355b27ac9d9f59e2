"""Runs approved plans in the background: every few seconds, the ready agent tasks of this
workspace. Idle costs nothing: a tick with nothing ready is one small query and no model request.
Several processes may run it on one database: tasks are claimed with SKIP LOCKED and a lease."""

from __future__ import annotations

import asyncio
import logging

from agents.executor import PlanExecutor, busy
from bot.background import Background
from memory import DatabaseUnavailable

log = logging.getLogger(__name__)


class PlanWorker(Background):
    name = "plan-worker"

    def __init__(self, executor: PlanExecutor, *, workspace: str, operator: str, timezone: str, every: float) -> None:
        self.executor = executor
        self.workspace = workspace
        self.operator = operator
        self.timezone = timezone
        self.every = every
        super().__init__()

    async def _run(self) -> None:
        while True:
            try:
                store = self.executor.memory.agent_store
                timezone = await store.get_timezone(self.workspace, self.operator) or self.timezone
                ran = await self.executor.tick(self.workspace, timezone=timezone)
            except DatabaseUnavailable as err:  # it comes back (or the supervisor says it will not)
                log.warning("plan worker waits for the database: %s", err)
                ran = []
            except Exception:  # a bug: log it with its traceback, keep the loop alive
                log.exception("plan worker round failed; trying again in %.0f s", self.every)
                ran = []
            if not busy(ran):  # something ran: look again at once, its dependents may be ready
                await asyncio.sleep(self.every)
