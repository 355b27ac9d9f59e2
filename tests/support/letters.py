"""E-mails as a sender writes them, for delivery to the test mail server (``MailServer.deliver``)."""

from __future__ import annotations

from email.message import EmailMessage


def letter(
    sender: str, subject: str, message_id: str, *, body: str = "Hello, could you help us with this?", **headers: str
) -> EmailMessage:
    """A message from ``sender`` to the operator; ``headers`` by keyword (``List_Unsubscribe=…``)."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = sender, "owner@example.test", subject, message_id
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


__all__ = ["letter"]
