"""The mail servers' failures (connection, TLS, login) explained to the operator as ``EmailError``."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
from typing import TYPE_CHECKING

from connectors.errors import EmailError

if TYPE_CHECKING:
    from connectors.email.config import EmailConfig


def server_text(err: BaseException) -> str:
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return f"{err.smtp_code} {' '.join(text.split())}"
    arg = err.args[0] if err.args else err
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return " ".join(text.split()).rstrip(".") or type(err).__name__


def explain_connect(err: BaseException, what: str, host: str, port: int, config: EmailConfig) -> EmailError:
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
            f"{where} closed the connection ({server_text(err)}). If it expects TLS from the start, set security "
            "to 'ssl'.",
            temporary=True,
        )
    if isinstance(err, OSError):
        return EmailError(f"cannot reach {where}: {err.strerror or err}.", temporary=True)
    return EmailError(f"{where} answered unexpectedly ({type(err).__name__}: {server_text(err)}).", temporary=True)


def login_failed(what: str, host: str, port: int, config: EmailConfig, err: BaseException) -> EmailError:
    return EmailError(
        f"{what} login failed for user {config.username} at {host}:{port}: {server_text(err)}. Check the password "
        "(providers with two-step sign-in need an app password) and the user name."
    )


__all__ = ["explain_connect", "login_failed", "server_text"]
