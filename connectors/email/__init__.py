"""E-mail over IMAP (read) and SMTP (send), with the standard library in worker threads.

Modules: ``config`` (``EmailConfig``), ``parsing`` (MIME, headers, addresses, attachments,
``parse_message``), ``html_text`` (HTML bodies to text), ``servers`` (server failures explained),
``imap`` (reading), ``smtp`` (composing and sending), ``outbox`` (send-once ledger, ``deliver_outbox``),
``connector`` (``EmailConnector``).

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

from connectors.email.config import EmailConfig
from connectors.email.connector import EmailConnector
from connectors.email.html_text import html_to_text
from connectors.email.imap import RawMail
from connectors.email.outbox import deliver_outbox
from connectors.email.parsing import clean_address, parse_message
from connectors.email.smtp import SentEmail
from connectors.errors import EmailError, SendUncertain

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
