"""E-mail messages: the canonical record of mail read over IMAP and mail SoloOS sent.

``store`` takes one batch as the e-mail connector produces it — parsed messages and rejected ones —
and writes it in ONE database transaction: the new messages, their senders as contacts, the
rejected messages in the quarantine and the mailbox's read cursor commit together, or nothing does.
A message already stored for the account (same Message-ID) is counted as a duplicate, so reading
the same mail twice never stores it twice.

Threads: a message's ``thread_id`` is the thread of the first message it refers to that is already
stored, else the root of its References chain (or its In-Reply-To), else its own Message-ID.

Documents: a new message's attachments become ``documents`` rows in the same transaction (a duplicate
message adds none). Their content is untrusted and only ever stored, never shown to a model.

Contacts: the sender of an incoming message becomes a contact (``source = 'email'``) unless one with
that address exists. Mail never changes an existing contact — anyone can put any display name on a
message, so a stranger writing as "Acme Billing" gets a contact of their own, not Acme's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from memory._postgres import Database
from memory._records import is_plain_name
from memory.errors import InvalidRecord

MAX_REPORTED_PROBLEMS = 20
MAX_ID_CHARS = 998  # RFC 5322 line limit
MAX_QUARANTINED_RAW = 2_000
_INT_MAX = 2**31 - 1  # quarantine.line is an int; IMAP UIDs go up to 2**32 - 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message. ``content`` is None when it was too large to keep."""

    name: str
    media_type: str
    size_bytes: int
    sha256: str  # hex digest of the whole file, also when ``content`` is None
    content: bytes | None = None


@dataclass(frozen=True)
class Document:
    """A stored attachment's metadata (the content is never loaded with it)."""

    id: int
    source: str
    message_id: int | None  # the ``messages`` row it came with
    name: str
    media_type: str
    size_bytes: int
    sha256: str
    has_content: bool  # False when the file was too large to keep
    created_at: datetime


@dataclass(frozen=True)
class NewMessage:
    """An e-mail as a connector produces it: parsed, validated and cleaned (no NUL characters)."""

    message_id: str  # "<…>"; connectors derive one from the content when the header is missing
    from_addr: str
    received_at: datetime  # timezone-aware
    from_name: str = ""
    to_addrs: tuple[str, ...] = ()
    cc_addrs: tuple[str, ...] = ()
    subject: str = ""
    body_text: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()  # oldest first, as in the References header
    uid: int | None = None
    untrusted: bool = True  # False only for mail SoloOS wrote itself
    attachments: tuple[Attachment, ...] = ()
    automated: bool = False  # headers of machine-sent mail (Auto-Submitted, List-Id, Precedence bulk…)


@dataclass(frozen=True)
class RejectedMessage:
    """A message that could not be read or failed validation: quarantined, never stored."""

    uid: int | None
    raw: str  # the start of the message, for the operator
    problem: str


MailItem = NewMessage | RejectedMessage


@dataclass(frozen=True)
class MailCursor:
    """Where reading a mailbox stopped: the last UID handled under the mailbox's UIDVALIDITY."""

    mailbox: str
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class StoredMail:
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    problems: tuple[str, ...] = ()  # the first few quarantine reasons, for the operator


@dataclass(frozen=True)
class Message:
    id: int
    account: str
    message_id: str
    thread_id: str
    in_reply_to: str | None
    from_addr: str
    from_name: str
    to_addrs: tuple[str, ...]
    cc_addrs: tuple[str, ...]
    subject: str
    body_text: str
    received_at: datetime
    contact_id: int | None
    untrusted: bool
    automated: bool = False

    @property
    def sender(self) -> str:
        return f"{self.from_name} <{self.from_addr}>" if self.from_name else self.from_addr

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "message_id": self.message_id,
            "thread_id": self.thread_id,
            "in_reply_to": self.in_reply_to,
            "from": self.from_addr,
            "from_name": self.from_name,
            "to": list(self.to_addrs),
            "cc": list(self.cc_addrs),
            "subject": self.subject,
            "body_text": self.body_text,
            "received_at": self.received_at.isoformat(),
            "contact_id": self.contact_id,
            "untrusted": self.untrusted,
        }


def _message(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        account=row["account"],
        message_id=row["message_id"],
        thread_id=row["thread_id"],
        in_reply_to=row["in_reply_to"],
        from_addr=row["from_addr"],
        from_name=row["from_name"],
        to_addrs=tuple(row["to_addrs"]),
        cc_addrs=tuple(row["cc_addrs"]),
        subject=row["subject"],
        body_text=row["body_text"],
        received_at=row["received_at"],
        contact_id=row["contact_id"],
        untrusted=row["untrusted"],
        automated=bool(row.get("automated", False)),
    )


def _checked(item: NewMessage) -> NewMessage:
    """The invariants a connector must have enforced; breaking one is a bug, so nothing is written."""
    texts = [item.message_id, item.from_addr, item.from_name, item.subject, item.body_text, *item.to_addrs]
    if any("\x00" in text for text in [*texts, *item.cc_addrs, *item.references, item.in_reply_to or ""]):
        raise InvalidRecord(f"message {item.message_id[:80]!r} contains a NUL character")
    if not item.message_id or len(item.message_id) > MAX_ID_CHARS:
        raise InvalidRecord("a message needs a Message-ID of at most 998 characters")
    local, at, domain = item.from_addr.rpartition("@")
    if not (local and at and domain) or any(c.isspace() for c in item.from_addr):
        raise InvalidRecord(f"message {item.message_id[:80]!r} has no valid sender address")
    if item.received_at.tzinfo is None:
        raise InvalidRecord(f"message {item.message_id[:80]!r} has a received time without a time zone")
    for file in item.attachments:
        if "\x00" in file.name or "\x00" in file.media_type or not _SHA256.fullmatch(file.sha256):
            raise InvalidRecord(f"message {item.message_id[:80]!r} has an attachment with a bad name or checksum")
        if not 0 <= file.size_bytes <= _INT_MAX or (file.content is not None and len(file.content) != file.size_bytes):
            raise InvalidRecord(f"message {item.message_id[:80]!r} has an attachment of the wrong size")
    return item


class Messages:
    """E-mail messages of a workspace, their threads, and where reading each mailbox stopped."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def store(
        self,
        workspace: str,
        account: str,
        items: Iterable[MailItem],
        *,
        cursor: MailCursor | None = None,
        own_address: str | None = None,
    ) -> StoredMail:
        """Store one batch (and advance ``cursor``) in one transaction. Mail from ``own_address``
        creates no contact."""
        batch = list(items)

        def run() -> StoredMail:
            with self.db.connection() as conn:
                return self.store_in(conn, workspace, account, batch, cursor=cursor, own_address=own_address)

        return await asyncio.to_thread(run)

    def store_in(
        self,
        conn: psycopg.Connection[Any],
        workspace: str,
        account: str,
        items: Sequence[MailItem],
        *,
        cursor: MailCursor | None = None,
        own_address: str | None = None,
    ) -> StoredMail:
        """``store`` inside the caller's transaction."""
        account = account.strip().lower()
        if not workspace or not account:
            raise InvalidRecord("storing mail needs a workspace and an account")
        messages = [_checked(item) for item in items if isinstance(item, NewMessage)]
        rejected = [item for item in items if isinstance(item, RejectedMessage)]
        own = (own_address or "").lower()
        senders = sorted({m.from_addr.lower() for m in messages if m.untrusted and m.from_addr.lower() != own})
        for address in senders:  # in a fixed order, so two concurrent reads cannot deadlock
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"contact:{workspace}:{address}",))

        imported = duplicates = 0
        threads: dict[str, str] = {}  # message id → thread id, for replies within this batch
        for message in messages:
            thread = _thread_id(conn, workspace, message, threads)
            row = conn.execute(
                """INSERT INTO messages (workspace, account, message_id, thread_id, in_reply_to, from_addr,
                       from_name, to_addrs, cc_addrs, subject, body_text, received_at, untrusted, uid, automated)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (workspace, account, message_id) DO NOTHING RETURNING id""",
                (
                    workspace,
                    account,
                    message.message_id,
                    thread,
                    message.in_reply_to,
                    message.from_addr,
                    message.from_name,
                    list(message.to_addrs),
                    list(message.cc_addrs),
                    message.subject,
                    message.body_text,
                    message.received_at,
                    message.untrusted,
                    message.uid,
                    message.automated,
                ),
            ).fetchone()
            if row is None:
                duplicates += 1
                continue
            imported += 1
            threads[message.message_id] = thread
            for file in message.attachments:
                conn.execute(
                    """INSERT INTO documents
                         (workspace, source, message_id, name, media_type, size_bytes, sha256, content)
                       VALUES (%s, 'email', %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (workspace, message_id, sha256, name) DO NOTHING""",
                    (workspace, row[0], file.name, file.media_type, file.size_bytes, file.sha256, file.content),
                )
            if message.from_addr.lower() in senders:
                contact = _sender_contact(conn, workspace, message)
                conn.execute("UPDATE messages SET contact_id = %s WHERE id = %s", (contact, row[0]))

        for item in rejected:
            problem = f"UID {item.uid}: {item.problem}" if item.uid is not None else item.problem
            conn.execute(
                "INSERT INTO quarantine (workspace, source, line, raw, problem) VALUES (%s, %s, %s, %s, %s)",
                (
                    workspace,
                    f"email:{account}",
                    item.uid if item.uid is not None and 0 < item.uid <= _INT_MAX else 0,
                    item.raw.replace("\x00", "")[:MAX_QUARANTINED_RAW],
                    problem,
                ),
            )
        if cursor is not None:
            _advance(conn, workspace, account, cursor)
        problems = tuple(
            f"UID {r.uid}: {r.problem}" if r.uid is not None else r.problem for r in rejected[:MAX_REPORTED_PROBLEMS]
        )
        return StoredMail(imported, duplicates, len(rejected), problems)

    async def cursor(self, workspace: str, account: str, mailbox: str) -> MailCursor | None:
        def run() -> MailCursor | None:
            with self.db.connection() as conn:
                row = conn.execute(
                    """SELECT uidvalidity, last_uid FROM mail_cursors
                       WHERE workspace = %s AND account = %s AND mailbox = %s""",
                    (workspace, account.strip().lower(), mailbox),
                ).fetchone()
            return MailCursor(mailbox, int(row[0]), int(row[1])) if row else None

        return await asyncio.to_thread(run)

    async def recent(self, workspace: str, limit: int = 20) -> list[Message]:
        """The newest messages of the workspace, newest first."""
        return await asyncio.to_thread(
            self._select, "workspace = %s ORDER BY received_at DESC, id DESC LIMIT %s", (workspace, limit)
        )

    async def thread(self, workspace: str, thread_id: str) -> list[Message]:
        """The messages of one thread, oldest first."""
        return await asyncio.to_thread(
            self._select, "workspace = %s AND thread_id = %s ORDER BY received_at, id", (workspace, thread_id)
        )

    async def documents(self, workspace: str, limit: int = 50) -> list[Document]:
        """The newest documents of the workspace (metadata only), newest first."""

        def run() -> list[Document]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT id, source, message_id, name, media_type, size_bytes, sha256, content IS NOT NULL,
                              created_at
                       FROM documents WHERE workspace = %s ORDER BY created_at DESC, id DESC LIMIT %s""",
                    (workspace, limit),
                ).fetchall()
            return [Document(*row) for row in rows]

        return await asyncio.to_thread(run)

    @staticmethod
    def thread_of(conn: psycopg.Connection[Any], workspace: str, message_id: str) -> str | None:
        """The thread a stored message belongs to (any account of the workspace), in the caller's transaction."""
        row = conn.execute(
            "SELECT thread_id FROM messages WHERE workspace = %s AND message_id = %s ORDER BY id LIMIT 1",
            (workspace, message_id),
        ).fetchone()
        return str(row[0]) if row else None

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Message]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(f"SELECT * FROM messages WHERE {where}", params).fetchall()
        return [_message(r) for r in rows]


def _thread_id(conn: psycopg.Connection[Any], workspace: str, message: NewMessage, batch: dict[str, str]) -> str:
    refs = list(message.references)
    if message.in_reply_to and message.in_reply_to not in refs:
        refs.append(message.in_reply_to)
    refs = [r for r in refs if r != message.message_id]
    if not refs:
        return message.message_id
    for ref in refs:
        if ref in batch:
            return batch[ref]
    row = conn.execute(
        """SELECT thread_id FROM messages WHERE workspace = %s AND message_id = ANY(%s)
           ORDER BY received_at, id LIMIT 1""",
        (workspace, refs),
    ).fetchone()
    return str(row[0]) if row else refs[0]


def _sender_contact(conn: psycopg.Connection[Any], workspace: str, message: NewMessage) -> int:
    """The contact with the sender's address, created if there is none (the caller holds the lock)."""
    address = message.from_addr
    row = conn.execute(
        "SELECT id FROM contacts WHERE workspace = %s AND lower(email) = lower(%s) ORDER BY id LIMIT 1",
        (workspace, address),
    ).fetchone()
    if row is not None:
        return int(row[0])
    name = message.from_name if is_plain_name(message.from_name) else address
    origin = f"email:{message.message_id} from {address}"
    candidates = [name, f"{name} <{address}>", address, *(f"{address} ({n})" for n in range(2, 10))]
    for candidate in dict.fromkeys(candidates):  # names are unique per workspace; never take another's
        row = conn.execute(
            """INSERT INTO contacts (workspace, name, email, source, origin) VALUES (%s, %s, %s, 'email', %s)
               ON CONFLICT (workspace, lower(name)) DO NOTHING RETURNING id""",
            (workspace, candidate, address, origin),
        ).fetchone()
        if row is not None:
            return int(row[0])
    raise InvalidRecord(f"no free contact name for {address}")


def _advance(conn: psycopg.Connection[Any], workspace: str, account: str, cursor: MailCursor) -> None:
    conn.execute(
        """INSERT INTO mail_cursors (workspace, account, mailbox, uidvalidity, last_uid)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (workspace, account, mailbox) DO UPDATE SET
             last_uid = CASE WHEN mail_cursors.uidvalidity = EXCLUDED.uidvalidity
                             THEN greatest(mail_cursors.last_uid, EXCLUDED.last_uid)
                             ELSE EXCLUDED.last_uid END,
             uidvalidity = EXCLUDED.uidvalidity,
             updated_at = now()""",
        (workspace, account, cursor.mailbox, cursor.uidvalidity, cursor.last_uid),
    )
