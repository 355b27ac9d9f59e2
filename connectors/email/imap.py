"""Reading over IMAP, with the stdlib ``imaplib`` (call it from a worker thread). Read-only:
``EXAMINE`` and ``BODY.PEEK[]``, so SoloOS never marks the operator's mail as read. A cursor per
mailbox (UIDVALIDITY + last UID) makes a re-read fetch nothing twice; the first read looks back
``initial_days``."""

from __future__ import annotations

import imaplib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from connectors.email.config import EmailConfig
from connectors.email.parsing import MAX_MESSAGE_BYTES, parse_message
from connectors.email.servers import explain_connect, login_failed, server_text
from connectors.errors import EmailError
from memory import MailCursor, MailItem, RejectedMessage

log = logging.getLogger(__name__)

FETCH_CHUNK = 25
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_open(config: EmailConfig) -> imaplib.IMAP4:
    host, port = config.imap_host, config.imap_port
    try:
        if config.security == "ssl":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=config.tls_context(), timeout=config.timeout
            )
        else:
            conn = imaplib.IMAP4(host, port, timeout=config.timeout)
            if config.security == "starttls":
                conn.starttls(ssl_context=config.tls_context())
    except Exception as err:
        raise explain_connect(err, "IMAP", host, port, config) from err
    try:
        conn.login(config.username, config.password.get_secret_value())
    except imaplib.IMAP4.abort as err:
        close_imap(conn)
        raise explain_connect(err, "IMAP", host, port, config) from err
    except (imaplib.IMAP4.error, UnicodeError) as err:
        close_imap(conn)
        raise login_failed("IMAP", host, port, config, err) from err
    except Exception as err:
        close_imap(conn)
        raise explain_connect(err, "IMAP", host, port, config) from err
    return conn


def close_imap(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except Exception:  # closing a connection that already broke
        log.debug("IMAP logout failed", exc_info=True)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


T = TypeVar("T")


def _imap_call(conn: imaplib.IMAP4, config: EmailConfig, call: Callable[[], T]) -> T:
    try:
        return call()
    except imaplib.IMAP4.abort as err:
        raise explain_connect(err, "IMAP", config.imap_host, config.imap_port, config) from err
    except imaplib.IMAP4.error as err:
        raise EmailError(
            f"the IMAP server at {config.imap_host}:{config.imap_port} refused a command: {server_text(err)}"
        ) from err
    except OSError as err:
        raise explain_connect(err, "IMAP", config.imap_host, config.imap_port, config) from err


def select_mailbox(conn: imaplib.IMAP4, config: EmailConfig) -> int:
    """EXAMINE the mailbox (read-only); returns its message count."""
    status, data = _imap_call(conn, config, lambda: conn.select(_quote(config.mailbox), readonly=True))
    if status != "OK":
        raise EmailError(
            f"the mailbox {config.mailbox!r} cannot be opened for user {config.username} at {config.imap_host}:"
            f"{config.imap_port}: {server_text(Exception(data[0] if data else status))}. Check the mailbox name."
        )
    try:
        return int(data[0] or 0) if data else 0
    except (TypeError, ValueError):
        return 0


def _status_number(conn: imaplib.IMAP4, config: EmailConfig, item: str) -> int | None:
    _, data = conn.response(item)
    if not data or data[0] is None:
        status, data = _imap_call(conn, config, lambda: conn.status(_quote(config.mailbox), f"({item})"))
        found = re.search(rf"{item} (\d+)".encode(), data[0] if status == "OK" and isinstance(data[0], bytes) else b"")
        return int(found.group(1)) if found else None
    try:
        return int(data[0])
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RawMail:
    uid: int
    internal_date: datetime | None
    raw: bytes | None  # None when too large to fetch
    size: int


@dataclass(frozen=True)
class Batch:
    uidvalidity: int
    last_uid: int
    mails: list[RawMail]
    more: bool


_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def _internal_date(prefix: bytes) -> datetime | None:
    stamp = imaplib.Internaldate2tuple(prefix)
    return datetime.fromtimestamp(time.mktime(stamp), UTC) if stamp else None


def _fetched(data: list[Any]) -> Iterator[tuple[bytes, bytes | None]]:
    """(metadata, literal) per message from an imaplib FETCH answer, the UID wherever it came."""
    items = list(data)
    for index, item in enumerate(items):
        if isinstance(item, tuple):
            prefix, literal = item[0], item[1]
            after = items[index + 1] if index + 1 < len(items) and isinstance(items[index + 1], bytes) else b""
            yield prefix + b" " + after, literal
        elif isinstance(item, bytes) and _UID.search(item) and not (index and isinstance(items[index - 1], tuple)):
            yield item, None


def _since(days: int, now: datetime) -> str:
    day = (now.astimezone(UTC) - timedelta(days=days)).date()
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


def _search(conn: imaplib.IMAP4, config: EmailConfig, *criteria: str) -> list[int]:
    status, data = _imap_call(conn, config, lambda: conn.uid("SEARCH", *criteria))
    if status != "OK":
        raise EmailError(f"the IMAP server at {config.imap_host}:{config.imap_port} could not search {config.mailbox}")
    return sorted({int(n) for n in (data[0] or b"").split()} if data else set())


def fetch_batch(conn: imaplib.IMAP4, config: EmailConfig, cursor: MailCursor | None, now: datetime) -> Batch:
    select_mailbox(conn, config)
    uidvalidity = _status_number(conn, config, "UIDVALIDITY") or 0
    uidnext = _status_number(conn, config, "UIDNEXT")  # before the search: later mail is above it
    fresh = cursor is None or cursor.uidvalidity != uidvalidity
    last = 0 if fresh or cursor is None else cursor.last_uid
    if fresh:
        if uidnext is None:
            uidnext = max(_search(conn, config, "ALL"), default=0) + 1
        found = _search(conn, config, "SINCE", _since(config.initial_days, now))
    else:
        found = _search(conn, config, f"UID {last + 1}:*")  # "n:*" also answers the highest UID below n
    uids = [uid for uid in found if uid > last]
    batch, more = uids[: config.max_per_read], len(uids) > config.max_per_read
    mails: list[RawMail] = []
    for start in range(0, len(batch), FETCH_CHUNK):
        mails.extend(_fetch_chunk(conn, config, batch[start : start + FETCH_CHUNK]))
    high = max(batch, default=last)
    if not more and uidnext:
        high = max(high, uidnext - 1)  # all below UIDNEXT is handled (or older than a first read looks)
    return Batch(uidvalidity, high, mails, more)


def _fetch_chunk(conn: imaplib.IMAP4, config: EmailConfig, uids: list[int]) -> list[RawMail]:
    wanted = ",".join(map(str, uids))
    _, data = _imap_call(conn, config, lambda: conn.uid("FETCH", wanted, "(UID RFC822.SIZE INTERNALDATE)"))
    sizes: dict[int, tuple[int, datetime | None]] = {}
    for meta, _literal in _fetched(data):
        found, length = _UID.search(meta), _SIZE.search(meta)
        if found:
            sizes[int(found.group(1))] = (int(length.group(1)) if length else 0, _internal_date(meta))
    small = [uid for uid in uids if sizes.get(uid, (0, None))[0] <= MAX_MESSAGE_BYTES]
    bodies: dict[int, bytes] = {}
    if small:
        listed = ",".join(map(str, small))
        _, data = _imap_call(conn, config, lambda: conn.uid("FETCH", listed, "(UID BODY.PEEK[])"))
        for meta, literal in _fetched(data):
            found = _UID.search(meta)
            if found and literal is not None:
                bodies[int(found.group(1))] = literal
    mails = []
    for uid in uids:
        size, internal = sizes.get(uid, (0, None))
        if uid in bodies or size > MAX_MESSAGE_BYTES:
            mails.append(RawMail(uid, internal, bodies.get(uid), size))
    return mails  # a UID that vanished between SEARCH and FETCH (deleted meanwhile) is skipped


def parsed(mail: RawMail, now: datetime) -> MailItem:
    if mail.raw is None:
        return RejectedMessage(
            mail.uid,
            "",
            f"the message is {mail.size / 2**20:.0f} MB, larger than SoloOS reads; open it in your mail client",
        )
    return parse_message(mail.raw, uid=mail.uid, internal_date=mail.internal_date, now=now)


__all__ = ["Batch", "RawMail", "close_imap", "fetch_batch", "imap_open", "parsed", "select_mailbox"]
