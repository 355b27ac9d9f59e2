"""Sending at most once, and the outbox the policy gate fills.

``Ledger`` holds one send's idempotency key in ``side_effects``: claimed and committed before the
SMTP call (the Message-ID is derived from it). A send the server refused (or that never reached it)
releases the claim, so a retry may try again; a send whose outcome is unknown (the connection dropped
after the message was handed over) keeps it and is reported, never repeated behind the operator's
back. ``deliver_outbox`` sends the outbox rows whose grace window has passed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from connectors.email.parsing import message_ids, printable
from connectors.email.smtp import Outgoing, SentEmail, compose
from connectors.errors import ConnectorError, EmailError, SendUncertain
from memory import Database, MemoryService, Messages, NewMessage, claim_effect, settle_effect
from policies.engine import Action

if TYPE_CHECKING:
    from connectors.email.config import EmailConfig
    from connectors.email.connector import EmailConnector

log = logging.getLogger(__name__)

OUTBOX_ATTEMPTS = 5  # a temporary failure is retried this many times, with growing pauses


@dataclass(frozen=True)
class Ledger:
    """One send's idempotency key in ``side_effects``: claimed before the SMTP call, then settled
    (sent, or uncertain) or released (refused, so a retry may send)."""

    db: Database
    workspace: str
    key: str

    def claim(self, config: EmailConfig, args: dict[str, Any], message_id: str, now: datetime) -> Outgoing | SentEmail:
        with self.db.connection() as conn:
            references = _references(conn, self.workspace, args.get("in_reply_to"))
            outgoing = compose(config, args, message_id, references, now)  # ConnectorError: nothing claimed
            earlier = claim_effect(conn, self.key, self.workspace, "email.send")
        if earlier is None:
            return outgoing
        if earlier.startswith("uncertain: "):
            raise SendUncertain(earlier.removeprefix("uncertain: "))
        summary = f"already sent, not sent again: {earlier}" if earlier else "this e-mail is being sent right now"
        return SentEmail(summary, message_id=message_id, repeated=True)

    def settle(self, result: str) -> None:
        with self.db.connection() as conn:
            settle_effect(conn, self.key, result)

    def release(self) -> None:
        with self.db.connection() as conn:
            conn.execute("DELETE FROM side_effects WHERE idempotency_key = %s AND result = ''", (self.key,))

    def file(self, config: EmailConfig, sent: Outgoing, now: datetime) -> None:
        """Keep the sent mail in its thread. Best effort: the send itself is already recorded."""
        msg = sent.message
        mine = NewMessage(
            message_id=sent.message_id,
            from_addr=config.address,
            from_name=config.display_name,
            to_addrs=tuple(sent.recipients),
            subject=str(msg["Subject"]),
            body_text=printable(str(msg.get_content())).strip(),
            received_at=now,
            in_reply_to=str(msg["In-Reply-To"]) if msg["In-Reply-To"] else None,
            references=tuple(message_ids(str(msg["References"] or ""))),
            untrusted=False,
        )
        try:
            with self.db.connection() as conn:
                Messages(self.db).store_in(conn, self.workspace, config.account, [mine], own_address=config.address)
        except Exception:  # the e-mail went out; failing to file it must not make anyone resend it
            log.exception("sent %s but could not store it in its thread", sent.message_id)


def _references(conn: psycopg.Connection[Any], workspace: str, parent: Any) -> list[str]:
    """References for a reply to ``parent``: the thread's root (when known) and the parent."""
    if parent is None or parent == "":
        return []
    ids = message_ids(parent) if isinstance(parent, str) else []
    if not ids:
        raise ConnectorError(f"in_reply_to {str(parent)[:120]!r} is not a Message-ID like <id@host>")
    root = Messages.thread_of(conn, workspace, ids[0])
    return [root, ids[0]] if root and root != ids[0] else [ids[0]]


# -- the outbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Queued:
    id: int
    recipient: str
    subject: str
    body: str
    attempts: int
    in_reply_to: str | None = None


def _claim_next(db: Database, workspace: str) -> _Queued | None:
    """Take the oldest due row: queued → sending, committed before anything is sent."""
    with db.connection() as conn:
        row = conn.execute(
            """SELECT id, recipient, subject, body, attempts, in_reply_to FROM outbox
               WHERE workspace = %s AND channel = 'email' AND status = 'queued' AND send_after <= now()
               ORDER BY send_after, id LIMIT 1 FOR UPDATE SKIP LOCKED""",
            (workspace,),
        ).fetchone()
        if row is None:
            return None
        conn.execute(
            "UPDATE outbox SET status = 'sending', attempted_at = now(), attempts = attempts + 1 WHERE id = %s",
            (row[0],),
        )
    return _Queued(row[0], row[1], row[2], row[3], row[4] + 1, row[5])


def _finish(db: Database, row: _Queued, *, sent: str | None = None, error: ConnectorError | None = None) -> None:
    with db.connection() as conn:
        if sent is not None:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = now(), message_id = %s, error = NULL WHERE id = %s",
                (sent, row.id),
            )
            return
        retry = (
            isinstance(error, EmailError)
            and error.temporary
            and not isinstance(error, SendUncertain)
            and row.attempts < OUTBOX_ATTEMPTS
        )
        if retry:
            pause = timedelta(minutes=2 ** (2 * row.attempts - 1))  # 2, 8, 32, 128 minutes
            conn.execute(
                "UPDATE outbox SET status = 'queued', send_after = now() + %s, error = %s WHERE id = %s",
                (pause, str(error), row.id),
            )
        else:
            conn.execute("UPDATE outbox SET status = 'failed', error = %s WHERE id = %s", (str(error), row.id))


async def deliver_outbox(
    source: MemoryService | Database, connector: EmailConnector, workspace: str, *, limit: int = 100
) -> int:
    """Send the queued e-mails of ``workspace`` whose grace window has passed; returns how many were sent.

    Each row is claimed under a row lock and marked 'sending' before the SMTP call, so concurrent
    deliverers (or a second process) never send a row twice. A temporary failure puts the row back
    in the queue with a growing pause; a refusal, or a send whose outcome is unknown, marks it
    'failed' with the reason.
    """
    db = source.db if isinstance(source, MemoryService) else source
    sent = 0
    for _ in range(limit):
        row = await asyncio.to_thread(_claim_next, db, workspace)
        if row is None:
            break
        args = {"to": row.recipient, "subject": row.subject, "body": row.body}
        if row.in_reply_to:
            args["in_reply_to"] = row.in_reply_to  # a reply goes out in its thread
        action = Action("email.send", args)
        try:
            outcome = await connector.send(action, f"outbox:{row.id}", db=db, workspace=workspace)
        except ConnectorError as err:
            log.warning("outbox #%s not sent: %s", row.id, err)
            await asyncio.to_thread(_finish, db, row, error=err)
            continue
        await asyncio.to_thread(_finish, db, row, sent=outcome.message_id)
        sent += 0 if outcome.repeated else 1
    return sent


__all__ = ["OUTBOX_ATTEMPTS", "Ledger", "deliver_outbox"]
