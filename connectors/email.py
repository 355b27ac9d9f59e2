"""E-mail over IMAP (read) and SMTP (send), with the standard library in worker threads.

``EmailConnector`` reads new mail into ``messages`` (senders become contacts, replies join their
thread) and sends the ``email.send`` actions the policy gate let through. ``deliver_outbox`` sends
the outbox rows whose grace window has passed. Nothing here decides whether mail may be sent.

Decisions:
- Reading is read-only (``EXAMINE`` and ``BODY.PEEK[]``): SoloOS never marks the operator's mail
  as read. A cursor per mailbox (UIDVALIDITY + last UID) makes a re-read fetch nothing twice; the
  first read looks back ``initial_days``. A batch of messages, its quarantined rejects and the
  cursor advance commit together (``Messages.store``), so a crash re-reads the batch and the
  Message-ID key turns it into duplicates.
- Every message is parsed by ``parse_message``, which never raises: it returns a ``NewMessage``
  (headers decoded, charsets handled, HTML turned into text, NUL and control characters removed)
  or a ``RejectedMessage`` naming the problem (empty, too large, no valid sender, unparseable).
- Attachments become ``documents`` of their message (name, media type, size, SHA-256; the bytes up
  to ``MAX_ATTACHMENT_BYTES``, else metadata only). Their content is untrusted: stored, never given
  to a model.
- ``received_at`` is the server's INTERNALDATE, not the sender's ``Date:`` header, which anyone can
  set to any time (a forged future date would pin a message to the top of the inbox).
- Sending is at most once. The idempotency key is claimed in ``side_effects`` and committed
  before the SMTP call, and the Message-ID is derived from it. A send the server refused (or that
  never reached it) releases the claim, so a retry may try again; a send whose outcome is unknown
  (the connection dropped after the message was handed over) keeps it and is reported, never
  repeated behind the operator's back.
- Plain-text connections (``security="none"``) are accepted only for a server on this machine: the
  password would otherwise cross the network unencrypted.
"""

from __future__ import annotations

import asyncio
import codecs
import email
import email.policy
import hashlib
import imaplib
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import decode_header
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr, getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import psycopg
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import Capability, Health, ReadReport
from connectors.effects import MESSAGE_ID, Outcome
from connectors.errors import ConnectorError
from memory import (
    Attachment,
    Database,
    MailCursor,
    MailItem,
    MemoryService,
    Messages,
    NewMessage,
    RejectedMessage,
    claim_effect,
    settle_effect,
)
from policies.engine import Action

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
_DEFAULT_PORTS: dict[Security, tuple[int, int]] = {"ssl": (993, 465), "starttls": (143, 587), "none": (143, 25)}

MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # what most providers accept; bigger mail is quarantined
MAX_BODY_CHARS = 100_000
MAX_SUBJECT_CHARS = 1_000
MAX_ADDRESSES = 200
MAX_REFERENCES = 50
MAX_RECIPIENTS = 50
MAX_PREVIEW_BYTES = 2_000
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024  # an attachment's content is kept up to this size; bigger ones as metadata
MAX_ATTACHMENTS = 100  # per message; the attachment note in the body names the first 20
FETCH_CHUNK = 25
OUTBOX_ATTEMPTS = 5  # a temporary failure is retried this many times, with growing pauses
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class EmailError(ConnectorError):
    """The mail server could not be reached or refused us; the message is written for the operator.

    ``temporary`` errors (unreachable, timed out, 4xx) may succeed later; the others need a fix.
    """

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


class SendUncertain(EmailError):
    """The connection broke after the message was handed over: it may or may not have been sent."""


# -- configuration ---------------------------------------------------------------------------


def _is_local(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailConfig(BaseModel):
    """One mailbox: where to read (IMAP), how to send (SMTP), and who the mail is from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    imap_host: str = Field(min_length=1, max_length=253)
    imap_port: int = Field(ge=1, le=65535)
    smtp_host: str = Field(min_length=1, max_length=253)
    smtp_port: int = Field(ge=1, le=65535)
    username: str = Field(min_length=1, max_length=320)
    password: SecretStr
    address: str  # the From address; also names the account the messages are stored under
    display_name: str = Field(default="", max_length=200)
    security: Security = "ssl"
    smtp_security: Security | None = None  # when SMTP differs from IMAP, e.g. IMAP ssl + SMTP starttls
    mailbox: str = Field(default="INBOX", min_length=1, max_length=200)
    tls_ca_file: Path | None = None  # to trust a server with a private certificate authority
    timeout: float = Field(default=30.0, gt=0, le=300)
    initial_days: int = Field(default=30, ge=1, le=3650)  # how far back the first read looks
    max_per_read: int = Field(default=200, ge=1, le=5000)  # messages per batch (one transaction)

    @model_validator(mode="before")
    @classmethod
    def _default_ports(cls, data: Any) -> Any:
        if isinstance(data, dict):
            security = data.get("security") or "ssl"
            smtp_security = data.get("smtp_security") or security
            if security in _DEFAULT_PORTS and data.get("imap_port") is None:
                data = {**data, "imap_port": _DEFAULT_PORTS[security][0]}
            if smtp_security in _DEFAULT_PORTS and data.get("smtp_port") is None:
                data = {**data, "smtp_port": _DEFAULT_PORTS[smtp_security][1]}
        return data

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        address = clean_address(value)
        if address is None:
            raise ValueError(f"{value!r} is not an e-mail address")
        return address

    @field_validator("mailbox")
    @classmethod
    def _mailbox(cls, value: str) -> str:
        if not value.isascii() or not value.isprintable():
            raise ValueError("the mailbox name must be printable ASCII (e.g. INBOX)")
        return value

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return " ".join(value.split())

    @model_validator(mode="after")
    def _no_plaintext_over_the_network(self) -> EmailConfig:
        for host, security, what in (
            (self.imap_host, self.security, "IMAP"),
            (self.smtp_host, self.outgoing_security, "SMTP"),
        ):
            if security == "none" and not _is_local(host):
                raise ValueError(
                    f"security 'none' would send your {what} password to {host} unencrypted; use 'ssl' or "
                    "'starttls' (only a server on this machine may use 'none')"
                )
        return self

    @property
    def outgoing_security(self) -> Security:
        return self.smtp_security or self.security

    @property
    def account(self) -> str:
        return self.address.lower()

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls_ca_file) if self.tls_ca_file else None)


# -- addresses, ids, text --------------------------------------------------------------------

_LOCAL = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]*$")
_MSGID = MESSAGE_ID  # the same pattern the outbox checks a reply's In-Reply-To with
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")


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


def _printable(text: str) -> str:
    """Text safe to store and show: raw bytes kept by the parser decoded as UTF-8, stray surrogates
    replaced, NUL and control characters removed."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (e.g. from unicode_escape)
            text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _one_line(text: str, limit: int) -> str:
    return " ".join(_printable(text).split())[:limit]


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
        return _printable(raw)
    return _printable(
        "".join(_decode(part, charset) if isinstance(part, bytes) else _printable(part) for part, charset in parts)
    )


def _raw_headers(msg: Message, name: str) -> list[str]:
    """A header's values as received: raw 8-bit bytes still escaped (``get_all`` would blank them)."""
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


def _header(msg: Message, name: str) -> str:
    """A header decoded for reading ('' when absent; repeated headers joined)."""
    return ", ".join(_decode_words(raw) for raw in _raw_headers(msg, name))


def _message_ids(value: str) -> list[str]:
    return [f"<{found}>" for found in _MSGID.findall(value)]


def _addresses(values: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for _name, address in getaddresses([_printable(v) for v in values]):
        clean = clean_address(address)
        if clean is not None:
            found.setdefault(clean)
        if len(found) >= MAX_ADDRESSES:
            break
    return tuple(found)


_PARAGRAPH_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "dl", "fieldset", "figure", "footer", "form", "header", "hr"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "main", "nav", "ol", "p", "pre", "section", "table", "ul"}
)
_LINE_TAGS = frozenset(["dd", "div", "dt", "figcaption", "li", "tr"])
_HIDDEN_TAGS = frozenset(["head", "noscript", "script", "style", "template", "title"])


class _TextExtractor(HTMLParser):
    """HTML to readable text: paragraphs become blank lines, rows and list items lines, and
    scripts and styles vanish. Breaks are kept as numbers until the end, so nested blocks
    (``</li><li>``, ``<ul><li>``) add one break, not several."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str | int] = []
        self.hidden = 0
        self.pre = 0

    def _break(self, lines: int) -> None:
        if self.parts and isinstance(self.parts[-1], int):
            self.parts[-1] = max(self.parts[-1], lines)
        else:
            self.parts.append(lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        elif tag in ("td", "th"):
            self.parts.append(" ")
        self.pre += tag == "pre"
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _PARAGRAPH_TAGS or tag in _LINE_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data if self.pre else data.replace("\n", " ").replace("\r", " "))

    def text(self) -> str:
        rendered = "".join("\n" * part if isinstance(part, int) else part for part in self.parts)
        lines = (" ".join(line.split()) for line in rendered.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """The readable text of an HTML e-mail body (stdlib ``html.parser``; never raises)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # HTMLParser is lenient; this is for the unforeseen
        log.debug("html body could not be fully parsed", exc_info=True)
    return extractor.text()


def _is_attachment(part: Message) -> str | None:
    """The attachment's name, or None for a part that is (or may be) the message text."""
    try:
        filename = part.get_filename()
        if part.get_content_disposition() == "attachment" or (filename and part.get_content_maintype() != "text"):
            return _one_line(_decode_words(str(filename or part.get_content_type())), 200)
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
    body = _printable(body).strip()
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
                media_type=_one_line(part.get_content_type(), 200) or "application/octet-stream",
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
    return _printable(raw[:MAX_PREVIEW_BYTES].decode("utf-8", "replace"))


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
    from_name, from_raw = parseaddr(_printable(senders[0]))
    from_addr = clean_address(from_raw)
    if from_addr is None:
        raise _Invalid(f"the sender {_decode_words(senders[0])[:120]!r} is not a valid e-mail address")
    own_ids = _message_ids(_header(msg, "Message-ID"))
    message_id = own_ids[0] if own_ids else f"<{hashlib.sha256(raw).hexdigest()[:40]}@soloos.invalid>"
    parents = _message_ids(_header(msg, "In-Reply-To"))
    references = _message_ids(_header(msg, "References"))
    if len(references) > MAX_REFERENCES:  # keep the root (the thread) and the nearest ancestors
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    return NewMessage(
        message_id=message_id,
        from_addr=from_addr,
        from_name=_one_line(_decode_words(from_name), 200),
        to_addrs=_addresses(_raw_headers(msg, "To")),
        cc_addrs=_addresses(_raw_headers(msg, "Cc")),
        subject=_one_line(_header(msg, "Subject"), MAX_SUBJECT_CHARS),
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
    not. Never raises, whatever the bytes."""
    moment = now or datetime.now(UTC)
    try:
        return _parse(raw, uid, internal_date, moment)
    except _Invalid as err:
        return RejectedMessage(uid, _preview(raw), str(err))
    except Exception as err:  # the stdlib parser's failure modes are not documented; none may stop a read
        return RejectedMessage(uid, _preview(raw), f"the message could not be parsed ({type(err).__name__}: {err})")


# -- talking to the servers ------------------------------------------------------------------


def _server_text(err: BaseException) -> str:
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return f"{err.smtp_code} {' '.join(text.split())}"
    arg = err.args[0] if err.args else err
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return " ".join(text.split()).rstrip(".") or type(err).__name__


def _explain_connect(err: BaseException, what: str, host: str, port: int, config: EmailConfig) -> EmailError:
    where = f"the {what} server at {host}:{port}"
    if isinstance(err, socket.gaierror):
        return EmailError(f"cannot find {where}: the host name does not resolve. Check the host name.", temporary=True)
    if isinstance(err, ConnectionRefusedError):
        return EmailError(
            f"cannot reach {where}: connection refused. Check the host and port, and that the server is running.",
            temporary=True,
        )
    if isinstance(err, TimeoutError):
        return EmailError(
            f"{where} did not answer within {config.timeout:g} s. Check the host and port (and the security "
            "setting: a TLS port waits silently for a plain-text client).",
            temporary=True,
        )
    if isinstance(err, ssl.SSLCertVerificationError):
        return EmailError(
            f"{where} presented a certificate that cannot be trusted ({err.verify_message}). If the server uses "
            "a private certificate authority, set tls_ca_file; otherwise check the host name."
        )
    if isinstance(err, ssl.SSLError):
        return EmailError(
            f"TLS with {where} failed ({err.reason or err}). Check the security setting: port 993 (IMAP) and 465 "
            "(SMTP) usually mean 'ssl', ports 143 and 587 mean 'starttls'."
        )
    if isinstance(err, smtplib.SMTPNotSupportedError | imaplib.IMAP4.error) and "TLS" in str(err).upper():
        return EmailError(f"{where} does not offer STARTTLS. Use security 'ssl' or the server's TLS port.")
    if isinstance(err, smtplib.SMTPServerDisconnected | imaplib.IMAP4.abort | EOFError | ConnectionResetError):
        return EmailError(
            f"{where} closed the connection ({_server_text(err)}). If it expects TLS from the start, set security "
            "to 'ssl'.",
            temporary=True,
        )
    if isinstance(err, OSError):
        return EmailError(f"cannot reach {where}: {err.strerror or err}.", temporary=True)
    return EmailError(f"{where} answered unexpectedly ({type(err).__name__}: {_server_text(err)}).", temporary=True)


def _login_failed(what: str, host: str, port: int, config: EmailConfig, err: BaseException) -> EmailError:
    return EmailError(
        f"{what} login failed for user {config.username} at {host}:{port}: {_server_text(err)}. Check the password "
        "(providers with two-step sign-in need an app password) and the user name."
    )


def _imap_open(config: EmailConfig) -> imaplib.IMAP4:
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
        raise _explain_connect(err, "IMAP", host, port, config) from err
    try:
        conn.login(config.username, config.password.get_secret_value())
    except imaplib.IMAP4.abort as err:
        _close_imap(conn)
        raise _explain_connect(err, "IMAP", host, port, config) from err
    except (imaplib.IMAP4.error, UnicodeError) as err:
        _close_imap(conn)
        raise _login_failed("IMAP", host, port, config, err) from err
    except Exception as err:
        _close_imap(conn)
        raise _explain_connect(err, "IMAP", host, port, config) from err
    return conn


def _close_imap(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except Exception:  # closing a connection that already broke
        log.debug("IMAP logout failed", exc_info=True)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _smtp_open(config: EmailConfig) -> smtplib.SMTP:
    host, port = config.smtp_host, config.smtp_port
    try:
        if config.outgoing_security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=config.timeout, context=config.tls_context())
        else:
            conn = smtplib.SMTP(host, port, timeout=config.timeout)
            if config.outgoing_security == "starttls":
                conn.starttls(context=config.tls_context())
        conn.ehlo_or_helo_if_needed()
    except Exception as err:
        raise _explain_connect(err, "SMTP", host, port, config) from err
    try:
        conn.login(config.username, config.password.get_secret_value())
    except smtplib.SMTPNotSupportedError as err:
        _close_smtp(conn)
        raise EmailError(
            f"the SMTP server at {host}:{port} does not offer a login (AUTH) on this connection. If it needs TLS "
            "first, use security 'starttls' or 'ssl'."
        ) from err
    except smtplib.SMTPAuthenticationError as err:
        _close_smtp(conn)
        raise _login_failed("SMTP", host, port, config, err) from err
    except Exception as err:
        _close_smtp(conn)
        raise _explain_connect(err, "SMTP", host, port, config) from err
    return conn


def _close_smtp(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except Exception:  # closing a connection that already broke
        conn.close()


T = TypeVar("T")


def _imap_call(conn: imaplib.IMAP4, config: EmailConfig, call: Callable[[], T]) -> T:
    try:
        return call()
    except imaplib.IMAP4.abort as err:
        raise _explain_connect(err, "IMAP", config.imap_host, config.imap_port, config) from err
    except imaplib.IMAP4.error as err:
        raise EmailError(
            f"the IMAP server at {config.imap_host}:{config.imap_port} refused a command: {_server_text(err)}"
        ) from err
    except OSError as err:
        raise _explain_connect(err, "IMAP", config.imap_host, config.imap_port, config) from err


def _select(conn: imaplib.IMAP4, config: EmailConfig) -> int:
    """EXAMINE the mailbox (read-only); returns its message count."""
    status, data = _imap_call(conn, config, lambda: conn.select(_quote(config.mailbox), readonly=True))
    if status != "OK":
        raise EmailError(
            f"the mailbox {config.mailbox!r} cannot be opened for user {config.username} at {config.imap_host}:"
            f"{config.imap_port}: {_server_text(Exception(data[0] if data else status))}. Check the mailbox name."
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
class _Batch:
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


def _since(days: int) -> str:
    day = (datetime.now(UTC) - timedelta(days=days)).date()
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


def _search(conn: imaplib.IMAP4, config: EmailConfig, *criteria: str) -> list[int]:
    status, data = _imap_call(conn, config, lambda: conn.uid("SEARCH", *criteria))
    if status != "OK":
        raise EmailError(f"the IMAP server at {config.imap_host}:{config.imap_port} could not search {config.mailbox}")
    return sorted({int(n) for n in (data[0] or b"").split()} if data else set())


def _fetch_batch(conn: imaplib.IMAP4, config: EmailConfig, cursor: MailCursor | None) -> _Batch:
    _select(conn, config)
    uidvalidity = _status_number(conn, config, "UIDVALIDITY") or 0
    uidnext = _status_number(conn, config, "UIDNEXT")  # before the search: later mail is above it
    fresh = cursor is None or cursor.uidvalidity != uidvalidity
    last = 0 if fresh or cursor is None else cursor.last_uid
    if fresh:
        if uidnext is None:
            uidnext = max(_search(conn, config, "ALL"), default=0) + 1
        found = _search(conn, config, "SINCE", _since(config.initial_days))
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
    return _Batch(uidvalidity, high, mails, more)


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


def _parsed(mail: RawMail) -> MailItem:
    if mail.raw is None:
        return RejectedMessage(
            mail.uid,
            "",
            f"the message is {mail.size / 2**20:.0f} MB, larger than SoloOS reads; open it in your mail client",
        )
    return parse_message(mail.raw, uid=mail.uid, internal_date=mail.internal_date)


# -- sending ---------------------------------------------------------------------------------


def _recipients(value: Any) -> list[str]:
    entries = value if isinstance(value, list | tuple) else [value]
    if not entries or not all(isinstance(e, str) for e in entries):
        raise ConnectorError("to must be an e-mail address or a list of them")
    if any("\n" in e or "\r" in e for e in entries):
        raise ConnectorError("to must not contain line breaks")
    found = getaddresses(list(entries))
    addresses = [clean_address(address) for _name, address in found]
    if not addresses or any(a is None for a in addresses):
        raise ConnectorError(f"{', '.join(entries)[:200]!r} is not a list of valid e-mail addresses")
    if len(addresses) > MAX_RECIPIENTS:
        raise ConnectorError(f"at most {MAX_RECIPIENTS} recipients per e-mail")
    return list(dict.fromkeys(a for a in addresses if a))


def _text_arg(args: dict[str, Any], name: str, limit: int) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConnectorError(f"{name} is missing")
    if len(value) > limit:
        raise ConnectorError(f"{name} is longer than {limit} characters")
    return value


@dataclass(frozen=True)
class SentEmail(Outcome):
    """What ``send`` did: ``repeated`` when the key had been used and nothing was sent now."""

    message_id: str = ""
    repeated: bool = False


@dataclass(frozen=True)
class _Outgoing:
    message: EmailMessage
    message_id: str
    recipients: list[str]


def _compose(config: EmailConfig, args: dict[str, Any], message_id: str, references: list[str]) -> _Outgoing:
    recipients = _recipients(args.get("to"))
    subject = _one_line(_text_arg(args, "subject", 998), 998)
    body = _printable(_text_arg(args, "body", 200_000))
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((config.display_name, config.address)) if config.display_name else config.address
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    if references:
        msg["In-Reply-To"] = references[-1]
        msg["References"] = " ".join(references)
    msg.set_content(body)
    return _Outgoing(msg, message_id, recipients)


def _smtp_send(config: EmailConfig, outgoing: _Outgoing) -> list[str]:
    """Hand one message to the SMTP server; returns the recipients it refused (others got it).

    ``EmailError``: not sent. ``SendUncertain``: the outcome is unknown."""
    conn = _smtp_open(config)
    where = f"the SMTP server at {config.smtp_host}:{config.smtp_port}"
    try:
        refused = conn.send_message(outgoing.message, from_addr=config.address, to_addrs=outgoing.recipients)
    except smtplib.SMTPRecipientsRefused as err:
        reasons = "; ".join(
            f"{who}: {code} {_server_text(Exception(text))}" for who, (code, text) in err.recipients.items()
        )
        raise EmailError(f"{where} refused every recipient ({reasons})") from err
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPNotSupportedError) as err:
        code = getattr(err, "smtp_code", 0)
        raise EmailError(f"{where} refused the message: {_server_text(err)}", temporary=400 <= code < 500) from err
    except (smtplib.SMTPException, OSError) as err:
        raise SendUncertain(
            f"the connection to {where} broke while sending ({type(err).__name__}: {_server_text(err)}); the e-mail "
            "may or may not have been sent. Check your Sent folder before sending it again."
        ) from err
    finally:
        _close_smtp(conn)
    return sorted(refused)


# -- the connector ---------------------------------------------------------------------------


class EmailConnector:
    """An IMAP + SMTP mailbox.

    Sending records its idempotency keys (and files the sent mail in its thread) in the database:
    ``send`` and ``flush`` are given it; ``write``, whose contract has no database, needs the
    connector bound to one (``db`` and ``workspace``).
    """

    name: ClassVar[str] = "email"
    capabilities: ClassVar[Capability] = Capability.READ | Capability.SEND
    Config: ClassVar[type[BaseModel]] = EmailConfig

    def __init__(self, config: EmailConfig, *, db: Database | None = None, workspace: str | None = None) -> None:
        self.config = config
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
            conn = _imap_open(config)
            try:
                count = _select(conn, config)
            finally:
                _close_imap(conn)
        except EmailError as err:
            return False, str(err)
        where = f"{config.imap_host}:{config.imap_port}"
        return True, f"IMAP {where}: signed in as {config.username}; {config.mailbox} has {count} messages."

    def _check_smtp(self) -> tuple[bool, str]:
        config = self.config
        try:
            _close_smtp(_smtp_open(config))
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

    def _next_batch(self, cursor: MailCursor | None) -> tuple[_Batch, list[MailItem]]:
        conn = _imap_open(self.config)
        try:
            batch = _fetch_batch(conn, self.config, cursor)
        finally:
            _close_imap(conn)
        return batch, [_parsed(mail) for mail in batch.mails]

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
        ledger = _Ledger(db, workspace, f"smtp:{idempotency_key}")
        message_id = self.message_id(workspace, idempotency_key)
        prepared = await asyncio.to_thread(ledger.claim, self.config, action.args, message_id)
        if isinstance(prepared, SentEmail):
            return prepared
        try:
            refused = await asyncio.to_thread(_smtp_send, self.config, prepared)
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
        await asyncio.to_thread(ledger.file, self.config, prepared)
        return SentEmail(summary, message_id=message_id)

    def message_id(self, workspace: str, idempotency_key: str) -> str:
        """The Message-ID a send with this key carries: the same for every retry."""
        digest = hashlib.sha256(f"{workspace}\n{idempotency_key}".encode()).hexdigest()[:40]
        return f"<{digest}.soloos@{self.config.address.rpartition('@')[2]}>"


@dataclass(frozen=True)
class _Ledger:
    """One send's idempotency key in ``side_effects``: claimed before the SMTP call, then settled
    (sent, or uncertain) or released (refused, so a retry may send)."""

    db: Database
    workspace: str
    key: str

    def claim(self, config: EmailConfig, args: dict[str, Any], message_id: str) -> _Outgoing | SentEmail:
        with self.db.connection() as conn:
            references = _references(conn, self.workspace, args.get("in_reply_to"))
            outgoing = _compose(config, args, message_id, references)  # ConnectorError: nothing claimed
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

    def file(self, config: EmailConfig, sent: _Outgoing) -> None:
        """Keep the sent mail in its thread. Best effort: the send itself is already recorded."""
        msg = sent.message
        mine = NewMessage(
            message_id=sent.message_id,
            from_addr=config.address,
            from_name=config.display_name,
            to_addrs=tuple(sent.recipients),
            subject=str(msg["Subject"]),
            body_text=_printable(str(msg.get_content())).strip(),
            received_at=datetime.now(UTC),
            in_reply_to=str(msg["In-Reply-To"]) if msg["In-Reply-To"] else None,
            references=tuple(_message_ids(str(msg["References"] or ""))),
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
    ids = _message_ids(parent) if isinstance(parent, str) else []
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


__all__ = [
    "EmailConfig",
    "EmailConnector",
    "EmailError",
    "RawMail",
    "SendUncertain",
    "SentEmail",
    "clean_address",
    "deliver_outbox",
    "html_to_text",
    "parse_message",
]
