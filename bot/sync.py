"""Keeps connected systems in step: every few minutes, one process per database reads new data
from each saved connector (new mail, calendar changes) and sends mail whose undo window has
passed. A connector that stops working is recorded as unhealthy and the operator is told once,
through the same at-most-once delivery log as reminders — never silence.

The lead is held on a connection of its own (``bot.leadership``): when the database restarts, the
sync notices at once (it waits on that connection between rounds), takes the lead back within
``retry`` once the server answers, and runs a round on taking it. A round that fails on the database
is tried again after ``retry`` (then twice as long, up to ``every``), not a whole ``every`` later.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import psycopg

from agents.gate import Gate
from agents.intake import take_mail_leads
from bot.background import Background
from bot.leadership import hold, lead
from connectors.registry import saved, sync
from memory import MemoryService

log = logging.getLogger(__name__)

RUNBOOK = "docs/runbooks/connector-auth-failure.md"
RETRY = timedelta(seconds=5)  # to take the lead back after a database restart, and to retry a failed round


class Syncer(Background):
    name = "connector-sync"

    def __init__(
        self,
        memory: MemoryService,
        *,
        workspace: str,
        operator: str,
        timezone: str,
        conninfo: str,
        every: timedelta,
        gate: Gate | None = None,
        signature: str | None = None,
        retry: timedelta = RETRY,
    ) -> None:
        self.memory = memory
        self.gate = gate  # with a gate, new mail is offered to client intake after each read
        self.signature = signature or operator
        self.workspace = workspace
        self.operator = operator
        self.timezone = timezone
        self.conninfo = conninfo
        self.every = every
        self.retry = min(retry, every)
        super().__init__()

    async def _run(self) -> None:
        await lead(
            self.conninfo, f"sync:{self.workspace}", self._rounds, retry=self.retry.total_seconds(), step_down=_nothing
        )

    async def _rounds(self, conn: psycopg.AsyncConnection[Any]) -> None:
        wait = self.retry
        while True:
            try:
                await self.tick()
            except Exception as err:  # the database (not a connector: tick records those) failed this round
                log.warning("connector sync round failed (%s); trying again in %ss", err, wait.total_seconds())
                await hold(conn, wait.total_seconds())  # raises if the lead went with the database
                wait = min(wait * 2, self.every)
                continue
            wait = self.retry
            await hold(conn, self.every.total_seconds())

    async def tick(self) -> list[str]:
        """One round over the saved connectors; returns a line per connector (for logs and tests).
        Reading and sending fail independently: mail still goes out while IMAP is down."""
        lines = []
        for record in await self.memory.connectors.all(self.workspace):
            was_healthy = record.healthy is not False
            failures, done = [], []
            try:
                report = await sync(self.memory, self.workspace, record.name)
                done.append(f"{report.imported} new, {report.quarantined} quarantined")
                if record.name == "email":
                    done.extend(await self._intake())
            except Exception as err:  # any connector failure: recorded, reported once, retried next round
                failures.append(f"reading failed ({type(err).__name__}: {err})")
            try:
                connector = await saved(self.memory, self.workspace, record.name)
                done.append(f"{await connector.flush(self.memory, self.workspace)} sent")
            except Exception as err:
                failures.append(f"sending failed ({type(err).__name__}: {err})")
            if failures:
                detail = "; ".join(failures)
                lines.append(f"{record.name}: {detail}")
                await self.memory.connectors.record_health(self.workspace, record.name, healthy=False, detail=detail)
                if was_healthy:
                    await self._notify(record.name, detail)
            else:
                lines.append(f"{record.name}: {', '.join(done)}")
                if not was_healthy:
                    await self.memory.connectors.record_health(
                        self.workspace, record.name, healthy=True, detail="working again"
                    )
        return lines

    async def _intake(self) -> list[str]:
        """New leads in the mail just read (intake decides which, and asks before replying). A failure
        here is logged and retried next round: it is not the connector's."""
        if self.gate is None:
            return []
        try:
            taken = await take_mail_leads(
                self.memory,
                self.gate,
                workspace=self.workspace,
                operator=self.operator,
                timezone=self.timezone,
                signature=self.signature,
            )
        except Exception:
            log.exception("client intake failed; it runs again next round")
            return ["intake failed (see the log)"]
        new = sum(1 for t in taken if t.new)
        return [f"{new} new lead{'s' if new != 1 else ''}"] if new else []

    async def _notify(self, name: str, detail: str) -> None:
        await self.memory.schedules.notice(
            workspace=self.workspace,
            operator=self.operator,
            body=(
                f"Your {name} connection stopped working: {detail}. Nothing was lost; I'll keep trying every "
                f"{int(self.every.total_seconds() // 60) or 1} min. `soloos connectors --check` shows its state; "
                f"{RUNBOOK} says how to fix it."
            ),
            timezone=self.timezone,
        )


def _nothing() -> None:
    """The sync keeps no state to drop when it loses the lead."""
