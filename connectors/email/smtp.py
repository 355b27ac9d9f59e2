"""Sending over SMTP, with the stdlib ``smtplib`` (call it from a worker thread): compose a message
from a gated ``email.send`` action's arguments and hand it to the server. Plain-text connections
(``security="none"``) are accepted only for a server on this machine (see ``EmailConfig``)."""

from __future__ import annotations

import email
import email.policy
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses
from typing import Any

from connectors.checks import MAX_MAIL_SUBJECT_CHARS, text_arg
from connectors.effects import Outcome
from connectors.email.config import EmailConfig
from connectors.email.parsing import clean_address, one_line, printable
from connectors.email.servers import explain_connect, login_failed, server_text
from connectors.errors import ConnectorError, EmailError, SendUncertain

MAX_RECIPIENTS = 50


def smtp_open(config: EmailConfig) -> smtplib.SMTP:
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
        raise explain_connect(err, "SMTP", host, port, config) from err
    try:
        conn.login(config.username, config.password.get_secret_value())
    except smtplib.SMTPNotSupportedError as err:
        close_smtp(conn)
        raise EmailError(
            f"the SMTP server at {host}:{port} does not offer a login (AUTH) on this connection. If it needs TLS "
            "first, use security 'starttls' or 'ssl'."
        ) from err
    except smtplib.SMTPAuthenticationError as err:
        close_smtp(conn)
        raise login_failed("SMTP", host, port, config, err) from err
    except Exception as err:
        close_smtp(conn)
        raise explain_connect(err, "SMTP", host, port, config) from err
    return conn


def close_smtp(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except Exception:  # closing a connection that already broke
        conn.close()


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


@dataclass(frozen=True)
class SentEmail(Outcome):
    """What ``send`` did: ``repeated`` when the key had been used and nothing was sent now."""

    message_id: str = ""
    repeated: bool = False


@dataclass(frozen=True)
class Outgoing:
    message: EmailMessage
    message_id: str
    recipients: list[str]


def compose(
    config: EmailConfig, args: dict[str, Any], message_id: str, references: list[str], now: datetime
) -> Outgoing:
    recipients = _recipients(args.get("to"))
    subject = one_line(text_arg(args, "subject", MAX_MAIL_SUBJECT_CHARS), MAX_MAIL_SUBJECT_CHARS)
    body = printable(text_arg(args, "body"))
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((config.display_name, config.address)) if config.display_name else config.address
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id
    if references:
        msg["In-Reply-To"] = references[-1]
        msg["References"] = " ".join(references)
    msg.set_content(body)
    return Outgoing(msg, message_id, recipients)


def smtp_send(config: EmailConfig, outgoing: Outgoing) -> list[str]:
    """Hand one message to the SMTP server; returns the recipients it refused (others got it).

    ``EmailError``: not sent. ``SendUncertain``: the outcome is unknown."""
    conn = smtp_open(config)
    where = f"the SMTP server at {config.smtp_host}:{config.smtp_port}"
    try:
        refused = conn.send_message(outgoing.message, from_addr=config.address, to_addrs=outgoing.recipients)
    except smtplib.SMTPRecipientsRefused as err:
        reasons = "; ".join(
            f"{who}: {code} {server_text(Exception(text))}" for who, (code, text) in err.recipients.items()
        )
        raise EmailError(f"{where} refused every recipient ({reasons})") from err
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPNotSupportedError) as err:
        code = getattr(err, "smtp_code", 0)
        raise EmailError(f"{where} refused the message: {server_text(err)}", temporary=400 <= code < 500) from err
    except (smtplib.SMTPException, OSError) as err:
        raise SendUncertain(
            f"the connection to {where} broke while sending ({type(err).__name__}: {server_text(err)}); the e-mail "
            "may or may not have been sent. Check your Sent folder before sending it again."
        ) from err
    finally:
        close_smtp(conn)
    return sorted(refused)


__all__ = ["MAX_RECIPIENTS", "Outgoing", "SentEmail", "close_smtp", "compose", "smtp_open", "smtp_send"]
