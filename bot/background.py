"""A background job of the serving process: one named asyncio task, (re)started by ``start`` and
cancelled and awaited by ``stop`` (the composition root stops every job on the way out).

A job is meant to run until cancelled, riding out a database that goes away on its own; should it
end with an error all the same (a bug), it is logged and started again after ``restart_after``
seconds rather than left dead for the rest of the process's life."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RESTART_AFTER = 5.0  # seconds before a job that ended with an error is started again


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks, then wait for each to finish."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def sweep_forever(sweep: Callable[[float], Awaitable[None]], every: float, what: str) -> None:
    """A channel's inbox sweep: ``sweep(older_than)`` first for everything an earlier process left
    (0 s), then every ``every`` seconds for what stalled here; a database that is away only pauses it."""
    older_than = 0.0
    while True:
        try:
            await sweep(older_than)
            older_than = every
        except Exception as err:  # the database is away: what is stored waits in it
            log.warning("%s sweep paused: %s", what, err)
        await asyncio.sleep(every)


class Background(ABC):
    name = "background"
    restart_after = RESTART_AFTER

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.stop()
        self._task = asyncio.create_task(self._keep_running(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_all([task] if task is not None else [])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _keep_running(self) -> None:
        while True:
            try:
                await self._run()
                return
            except Exception:
                log.exception("%s stopped with an error; starting it again in %ss", self.name, self.restart_after)
                await asyncio.sleep(self.restart_after)

    @abstractmethod
    async def _run(self) -> None:
        """The job itself; runs until cancelled."""
