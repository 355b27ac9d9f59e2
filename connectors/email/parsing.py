"""Raw RFC 5322 messages to canonical ``NewMessage`` records: headers decoded, charsets handled,
HTML turned into text, NUL and control characters removed, attachments kept as documents.
``parse_message`` never raises: what cannot be stored comes back as a ``RejectedMessage`` saying why.
``received_at`` is the server's INTERNALDATE, not the sender's ``Date:`` header, which anyone can set
to any time (a forged future date would pin a message to the top of the inbox)."""

from __future__ import annotations

import codecs
import email
import email.policy
import hashlib
import re
from datetime import UTC, datetime, timedelta
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from connectors.checks import MESSAGE_ID
from connectors.email.html_text import html_to_text
from memory import Attachment, Clock, MailItem, NewMessage, RejectedMessage

MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # what most providers accept; bigger mail is quarantined
MAX_BODY_CHARS = 100_000
MAX_SUBJECT_CHARS = 1_000
MAX_ADDRESSES = 200
MAX_REFERENCES = 50
MAX_PREVIEW_BYTES = 2_000
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024  # an attachment's content is kept up to this size; bigger ones as metadata
MAX_ATTACHMENTS = 100  # per message; the attachment note in the body names the first 20

# -- addresses, ids, text --------------------------------------------------------------------

_LOCAL = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]*$")
_MSGID = MESSAGE_ID  # the same pattern the outbox checks a reply's In-Reply-To with
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_address(value: str) -> str | None:
    """``value`` as a plain address (domain in lower case), or None if it is not a valid one."""
    _name, address = parseaddr(value)
    local, at, domain = address.strip().rpartition("@")
    if not at or not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain = domain.lower()
    if not _DOMAIN.match(domain):
        return None
    return f"{local}@{domain}"


def printable(text: str) -> str:
    """Text safe to store and show: raw bytes kept by the parser decoded as UTF-8, stray surrogates
    replaced, NUL and control characters removed."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (e.g. from unicode_escape)
            text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str, limit: int) -> str:
    return " ".join(printable(text).split())[:limit]


def _decode(data: bytes, charset: str | None) -> str:
    try:
        codec = codecs.lookup(charset or "utf-8").name
    except LookupError:
        codec = "utf-8"
    try:
        return data.decode(codec, "replace")
    except Exception:  # a codec that fails on its own input (e.g. some CJK codecs on garbage)
        return data.decode("utf-8", "replace")


def _decode_words(raw: str) -> str:
    """RFC 2047 encoded words and raw 8-bit bytes decoded; never raises."""
    try:
        parts = decode_header(raw)
    except Exception:  # an encoded word the stdlib cannot split: keep the raw text
        return printable(raw)
    return printable(
        "".join(_decode(part, charset) if isinstance(part, bytes) else printable(part) for part, charset in parts)
    )


def _raw_headers(msg: Message, name: str) -> list[str]:
    """A header's values as received: raw 8-bit bytes still escaped (``get_all`` would blank them)."""
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


def _header(msg: Message, name: str) -> str:
    """A header decoded for reading ('' when absent; repeated headers joined)."""
    return ", ".join(_decode_words(raw) for raw in _raw_headers(msg, name))


def message_ids(value: str) -> list[str]:
    return [f"<{found}>" for found in _MSGID.findall(value)]


def _addresses(values: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for _name, address in getaddresses([printable(v) for v in values]):
        clean = clean_address(address)
        if clean is not None:
            found.setdefault(clean)
        if len(found) >= MAX_ADDRESSES:
            break
    return tuple(found)


def _is_attachment(part: Message) -> str | None:
    """The attachment's name, or None for a part that is (or may be) the message text."""
    try:
        filename = part.get_filename()
        if part.get_content_disposition() == "attachment" or (filename and part.get_content_maintype() != "text"):
            return one_line(_decode_words(str(filename or part.get_content_type())), 200)
    except Exception:  # unparseable Content-Disposition parameters: treat the part as text
        return None
    return None


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    try:
        charset = part.get_content_charset()
    except Exception:  # a charset parameter the stdlib cannot read: try UTF-8
        charset = None
    return _decode(payload, charset) if isinstance(payload, bytes) else ""


def _body(msg: Message) -> str:
    """The message text: the first text/plain part, else the first text/html part as text."""
    plain: str | None = None
    html: str | None = None
    attachments: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = _is_attachment(part)
        kind = part.get_content_type()
        if name is not None:
            attachments.append(name)
        elif kind == "text/plain" and plain is None:
            plain = _part_text(part)
        elif kind == "text/html" and html is None:
            html = _part_text(part)
    body = plain if plain is not None and plain.strip() else html_to_text(html or "")
    body = printable(body).strip()
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS] + "\n[… the rest of this message was cut]"
    if attachments:
        body += f"\n\n[attachments: {', '.join(attachments[:20])}]"
    return body


def _attachments(msg: Message) -> tuple[Attachment, ...]:
    """The message's attachments: name, media type, size and checksum; the bytes up to
    ``MAX_ATTACHMENT_BYTES``. Untrusted content: stored, never shown to a model."""
    found: list[Attachment] = []
    for part in msg.walk():
        if len(found) >= MAX_ATTACHMENTS:
            break
        if part.is_multipart():
            continue
        name = _is_attachment(part)
        if name is None:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(
            Attachment(
                name=name or "attachment",
                media_type=one_line(part.get_content_type(), 200) or "application/octet-stream",
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                content=data if len(data) <= MAX_ATTACHMENT_BYTES else None,
            )
        )
    return tuple(found)


# -- parsing ---------------------------------------------------------------------------------


class _Invalid(Exception):
    """The message cannot be stored; the text says why."""


def _preview(raw: bytes) -> str:
    return printable(raw[:MAX_PREVIEW_BYTES].decode("utf-8", "replace"))


def _received_at(msg: Message, internal_date: datetime | None, now: datetime) -> datetime:
    if internal_date is not None:
        return internal_date if internal_date.tzinfo else internal_date.replace(tzinfo=UTC)
    try:
        sent = parsedate_to_datetime(_header(msg, "Date"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return now
    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    return sent if datetime(1990, 1, 1, tzinfo=UTC) <= sent <= now + timedelta(days=2) else now


def _parse(raw: bytes, uid: int | None, internal_date: datetime | None, now: datetime) -> NewMessage:
    if not raw.strip():
        raise _Invalid("the message is empty")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise _Invalid(f"the message is larger than {MAX_MESSAGE_BYTES // 2**20} MB; open it in your mail client")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    senders = _raw_headers(msg, "From")
    if not senders or not senders[0].strip():
        raise _Invalid("the message has no sender (From header)")
    # The address is taken from the raw header (encoded words in a display name may hide commas).
    from_name, from_raw = parseaddr(printable(senders[0]))
    from_addr = clean_address(from_raw)
    if from_addr is None:
        raise _Invalid(f"the sender {_decode_words(senders[0])[:120]!r} is not a valid e-mail address")
    own_ids = message_ids(_header(msg, "Message-ID"))
    message_id = own_ids[0] if own_ids else f"<{hashlib.sha256(raw).hexdigest()[:40]}@soloos.invalid>"
    parents = message_ids(_header(msg, "In-Reply-To"))
    references = message_ids(_header(msg, "References"))
    if len(references) > MAX_REFERENCES:  # keep the root (the thread) and the nearest ancestors
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    return NewMessage(
        message_id=message_id,
        from_addr=from_addr,
        from_name=one_line(_decode_words(from_name), 200),
        to_addrs=_addresses(_raw_headers(msg, "To")),
        cc_addrs=_addresses(_raw_headers(msg, "Cc")),
        subject=one_line(_header(msg, "Subject"), MAX_SUBJECT_CHARS),
        body_text=_body(msg),
        received_at=_received_at(msg, internal_date, now),
        in_reply_to=parents[0] if parents else None,
        references=tuple(references),
        uid=uid,
        attachments=_attachments(msg),
        automated=_machine_sent(msg),
    )


def _machine_sent(msg: Message) -> bool:
    """Headers that say a machine sent this (RFC 3834 Auto-Submitted, mailing lists, bulk mail): a fact
    the connector reports, for the agents to weigh."""
    auto = _header(msg, "Auto-Submitted").strip().lower()
    precedence = _header(msg, "Precedence").strip().lower()
    listed = any(_header(msg, name).strip() for name in ("List-Id", "List-Unsubscribe"))
    return bool(auto and auto != "no") or precedence in ("bulk", "list", "junk", "auto_reply") or listed


def parse_message(
    raw: bytes, *, uid: int | None = None, internal_date: datetime | None = None, now: datetime | None = None
) -> MailItem:
    """One raw RFC 5322 message as a canonical ``NewMessage``, or a ``RejectedMessage`` saying why
    not. Never raises, whatever the bytes. ``now`` (default: ``memory.Clock``) bounds a plausible
    ``Date:`` header when the server gave no INTERNALDATE."""
    moment = now or Clock().now()
    try:
        return _parse(raw, uid, internal_date, moment)
    except _Invalid as err:
        return RejectedMessage(uid, _preview(raw), str(err))
    except Exception as err:  # the stdlib parser's failure modes are not documented; none may stop a read
        return RejectedMessage(uid, _preview(raw), f"the message could not be parsed ({type(err).__name__}: {err})")


__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MAX_MESSAGE_BYTES",
    "clean_address",
    "message_ids",
    "one_line",
    "parse_message",
    "printable",
]
