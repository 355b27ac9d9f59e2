"""``EmailConnector``: an IMAP + SMTP mailbox (health, read, gated send, outbox flush)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

from connectors.base import Capability, Connector, Health, ReadReport
from connectors.effects import Outcome
from connectors.email.config import EmailConfig
from connectors.email.imap import Batch, close_imap, fetch_batch, imap_open, parsed, select_mailbox
from connectors.email.outbox import Ledger, deliver_outbox
from connectors.email.smtp import SentEmail, close_smtp, smtp_open, smtp_send
from connectors.errors import ConnectorError, EmailError, SendUncertain
from memory import Clock, Database, MailCursor, MailItem, MemoryService
from policies.engine import Action

log = logging.getLogger(__name__)


class EmailConnector:
    """An IMAP + SMTP mailbox.

    Sending records its idempotency keys (and files the sent mail in its thread) in the database:
    ``send`` and ``flush`` are given it; ``write``, whose contract has no database, needs the
    connector bound to one (``db`` and ``workspace``).
    """

    name: ClassVar[str] = "email"
    capabilities: ClassVar[Capability] = Capability.READ | Capability.SEND
    Config: ClassVar[type[BaseModel]] = EmailConfig

    def __init__(
        self,
        config: EmailConfig,
        *,
        db: Database | None = None,
        workspace: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or Clock().now  # the registry passes ``memory.clock.now``
        self.db = db
        self.workspace = workspace

    # health ------------------------------------------------------------------------------

    async def health(self) -> Health:
        """Sign in to IMAP and SMTP. Never raises: the detail says what works or what to fix."""
        try:
            checks = await asyncio.gather(asyncio.to_thread(self._check_imap), asyncio.to_thread(self._check_smtp))
        except Exception as err:  # the contract: health never raises
            log.exception("e-mail health check failed unexpectedly")
            return Health(False, f"the e-mail check failed unexpectedly ({type(err).__name__}: {err})")
        return Health(all(ok for ok, _ in checks), " ".join(detail[:1].upper() + detail[1:] for _, detail in checks))

    def _check_imap(self) -> tuple[bool, str]:
        config = self.config
        try:
            conn = imap_open(config)
            try:
                count = select_mailbox(conn, config)
            finally:
                close_imap(conn)
        except EmailError as err:
            return False, str(err)
        where = f"{config.imap_host}:{config.imap_port}"
        return True, f"IMAP {where}: signed in as {config.username}; {config.mailbox} has {count} messages."

    def _check_smtp(self) -> tuple[bool, str]:
        config = self.config
        try:
            close_smtp(smtp_open(config))
        except EmailError as err:
            return False, str(err)
        return True, f"SMTP {config.smtp_host}:{config.smtp_port}: signed in as {config.username}."

    # read --------------------------------------------------------------------------------

    async def read(self, memory: MemoryService, workspace: str) -> ReadReport:
        """Store the mail that arrived since the last read, a batch per transaction. Raises
        ``EmailError`` (saying what to fix) when the server cannot be reached or refuses the login."""
        totals = {"imported": 0, "duplicates": 0, "quarantined": 0}
        problems: list[str] = []
        more = True
        while more:
            cursor = await memory.messages.cursor(workspace, self.config.account, self.config.mailbox)
            batch, items = await asyncio.to_thread(self._next_batch, cursor)
            stored = await memory.messages.store(
                workspace,
                self.config.account,
                items,
                cursor=MailCursor(self.config.mailbox, batch.uidvalidity, batch.last_uid),
                own_address=self.config.address,
            )
            for name in totals:
                totals[name] += getattr(stored, name)
            problems.extend(stored.problems)
            more = batch.more
        log.info("e-mail read for %s: %s", workspace, totals)
        return ReadReport(**totals, problems=tuple(problems[:20]))

    def _next_batch(self, cursor: MailCursor | None) -> tuple[Batch, list[MailItem]]:
        conn = imap_open(self.config)
        try:
            now = self.clock()
            batch = fetch_batch(conn, self.config, cursor, now)
        finally:
            close_imap(conn)
        return batch, [parsed(mail, now) for mail in batch.mails]

    # write -------------------------------------------------------------------------------

    async def write(self, action: Action, idempotency_key: str) -> Outcome:
        """Send an ``email.send`` action (args: to, subject, body, optional in_reply_to) once per key."""
        if self.db is None or self.workspace is None:
            raise ConnectorError(
                "this e-mail connector is not bound to a database, so it cannot make sure a send happens once"
            )
        return await self.send(action, idempotency_key, db=self.db, workspace=self.workspace)

    async def flush(self, memory: MemoryService, workspace: str) -> int:
        """Send the outbox mail whose undo window has passed (``deliver_outbox``)."""
        return await deliver_outbox(memory, self, workspace)

    async def send(self, action: Action, idempotency_key: str, *, db: Database, workspace: str) -> SentEmail:
        """Send once per key. Raises ``ConnectorError`` for bad arguments, ``EmailError`` when nothing
        was sent, ``SendUncertain`` when this or an earlier attempt may have been sent."""
        if action.type != "email.send":
            raise ConnectorError(f"the e-mail connector cannot perform {action.type}")
        ledger = Ledger(db, workspace, f"smtp:{idempotency_key}")
        message_id = self.message_id(workspace, idempotency_key)
        prepared = await asyncio.to_thread(ledger.claim, self.config, action.args, message_id, self.clock())
        if isinstance(prepared, SentEmail):
            return prepared
        try:
            refused = await asyncio.to_thread(smtp_send, self.config, prepared)
        except SendUncertain as err:
            await asyncio.to_thread(ledger.settle, f"uncertain: {err}")
            raise
        except EmailError:
            await asyncio.to_thread(ledger.release)
            raise
        delivered = [r for r in prepared.recipients if r not in refused]
        summary = f"e-mail to {', '.join(delivered)} sent ({message_id})"
        if refused:
            summary += f"; refused by the server for {', '.join(refused)}"
        await asyncio.to_thread(ledger.settle, summary)
        await asyncio.to_thread(ledger.file, self.config, prepared, self.clock())
        return SentEmail(summary, message_id=message_id)

    def message_id(self, workspace: str, idempotency_key: str) -> str:
        """The Message-ID a send with this key carries: the same for every retry."""
        digest = hashlib.sha256(f"{workspace}\n{idempotency_key}".encode()).hexdigest()[:40]
        return f"<{digest}.soloos@{self.config.address.rpartition('@')[2]}>"


if TYPE_CHECKING:

    def _is_a_connector(connector: EmailConnector) -> Connector:  # checked by mypy, never run
        return connector


__all__ = ["EmailConnector"]
