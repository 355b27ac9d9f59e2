"""Supervision of the embedded PostgreSQL while ``soloos run`` serves.

Every ``every`` seconds the supervisor reads whether the embedded server's postmaster runs (its pid
file; no connection). Once it has been gone for ``restart_after`` seconds — time for whoever restarts
it by hand (``pg_ctl restart``) to finish — it starts it again on the same data directory, or finds
that another process did and reuses it. When it cannot be started for ``give_up_after`` seconds, the
operator is told on their channel and the serving command exits with ``EXIT_DATABASE_LOST``, so a
service manager restarts the whole process. An external ``DATABASE_URL`` is not supervised: the
connection pool reconnects when that server is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Literal

from bot.app import App
from bot.background import Background
from bot.intent import Reply
from bot.outbound import Outbound
from memory import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

EXIT_DATABASE_LOST = 3  # the exit status of `soloos run` when its embedded database cannot be started
ROUTES_WITHIN = timedelta(days=30)  # where the operator talked lately: where the notice goes

Verdict = Literal["up", "waiting", "restarted", "gave up"]


def lost_notice(error: str) -> str:
    return (
        "My database stopped and I could not start it again, so I am shutting down now for the service "
        f"manager to restart me.\n\n{error}"
    )


class Supervisor(Background):
    name = "database-supervisor"

    def __init__(
        self,
        db: Database,
        outbound: Outbound,
        routes: Callable[[], list[str]],
        *,
        fallback: Sequence[str] = (),
        every: float = 1.0,
        restart_after: float = 2.0,
        give_up_after: float = 60.0,
        routes_every: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.db = db
        self.outbound = outbound
        self.routes = routes  # recent conversations (read while the database is up)
        self.fallback = list(fallback)  # where to write when none is known (the allowlisted operators)
        self.every = every
        self.restart_after = restart_after
        self.give_up_after = give_up_after
        self.routes_every = routes_every
        self._monotonic = monotonic
        self.gave_up = asyncio.Event()
        self._down_since: float | None = None
        self._error: str | None = None  # why the last start failed
        self._known: list[str] = []
        self._known_at: float | None = None

    async def _run(self) -> None:
        while True:
            try:
                if await self.check() == "gave up":
                    return
            except Exception:  # a surprise must not end the supervision
                log.exception("database supervision failed; checking again")
            await asyncio.sleep(self.every)

    async def check(self) -> Verdict:
        """One look at the server: restart it, wait for it, or give up (tell the operator, set ``gave_up``)."""
        now = self._monotonic()
        if await asyncio.to_thread(self.db.server_up):
            if self._down_since is not None:
                log.warning("the embedded database is running again")
            self._down_since, self._error = None, None
            await self._remember_routes(now)
            return "up"
        if self._down_since is None:
            self._down_since = now
            log.error("the embedded database is not running")
        if now - self._down_since < self.restart_after:
            return "waiting"
        try:
            state = await asyncio.to_thread(self.db.restart_server)
        except DatabaseUnavailable as err:
            state, self._error = "pending", str(err)
            log.error("%s; trying again", err)
        if state != "pending":
            self._down_since = None
            return "restarted" if state == "restarted" else "up"
        if now - self._down_since < self.give_up_after:
            return "waiting"
        await self._give_up(self._error or f"it has not been running for {self.give_up_after:.0f} s")
        return "gave up"

    async def _remember_routes(self, now: float) -> None:
        if self._known_at is not None and now - self._known_at < self.routes_every:
            return
        try:
            self._known = await asyncio.to_thread(self.routes)
        except DatabaseUnavailable as err:
            log.info("could not read where the operator talked lately: %s", err)
            return
        self._known_at = now

    async def _give_up(self, error: str) -> None:
        log.critical("the embedded database cannot be started again; exiting: %s", error)
        notice = Reply(lost_notice(error), ok=False)
        for conversation in dict.fromkeys([*self._known, *self.fallback]):
            if not self.outbound.can_reach(conversation):
                continue
            try:
                await self.outbound.send(conversation, notice)
            except Exception as err:  # channel libraries raise many kinds; try the next route
                log.warning("could not tell %s that the database is lost: %s", conversation, err)
                continue
            break
        else:
            log.error("no channel could carry the notice that the database is lost")
        self.gave_up.set()


def supervisor_for(app: App) -> Supervisor | None:
    """The supervisor of ``app``'s embedded database; None for an external ``DATABASE_URL``."""
    memory, settings = app.memory, app.settings
    if not memory.db.supervised:
        return None
    fallback = [f"telegram:{user}" for user in sorted(settings.telegram_allowlist)]
    fallback += [f"slack:{user}" for user in sorted(settings.slack_allowlist)]
    return Supervisor(
        memory.db,
        app.outbound,
        lambda: memory.schedules.recent_conversations_sync(settings.workspace, ROUTES_WITHIN),
        fallback=fallback,
    )


async def until_stopped(stop: asyncio.Event, supervisor: Supervisor | None) -> int:
    """Wait for ``stop`` (a signal) or for the supervisor to give up; the process's exit status."""
    waits = [asyncio.ensure_future(stop.wait())]
    if supervisor is not None:
        waits.append(asyncio.ensure_future(supervisor.gave_up.wait()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    return EXIT_DATABASE_LOST if supervisor is not None and supervisor.gave_up.is_set() else 0


__all__ = ["EXIT_DATABASE_LOST", "Supervisor", "lost_notice", "supervisor_for", "until_stopped"]
