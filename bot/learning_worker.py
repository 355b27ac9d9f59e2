"""Learns from queued operator messages in the background (``agents.learning_worker``): every few
seconds, a few messages. Idle costs one small query and no model request. Several processes may run
it on one database: messages are claimed with SKIP LOCKED and a lease."""

from __future__ import annotations

import asyncio
import logging

from agents.learning_worker import LearningRounds
from bot.background import Background
from memory import DatabaseUnavailable

log = logging.getLogger(__name__)


class LearningWorker(Background):
    name = "learning-worker"

    def __init__(self, rounds: LearningRounds | None, *, every: float) -> None:
        self.rounds = rounds  # None: no model configured or learning off; the job does nothing
        self.every = every
        super().__init__()

    async def start(self) -> None:
        if self.rounds is not None:
            await super().start()

    async def _run(self) -> None:
        assert self.rounds is not None
        while True:
            try:
                handled = await self.rounds.tick()
            except DatabaseUnavailable as err:
                log.warning("learning worker waits for the database: %s", err)
                handled = 0
            except Exception:  # a bug: log it with its traceback, keep the loop alive
                log.exception("learning round failed; trying again in %.0f s", self.every)
                handled = 0
            if not handled:
                await asyncio.sleep(self.every)
