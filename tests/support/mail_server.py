"""A real SMTP + IMAP server for tests: ``mail-devel`` (aiosmtpd + pymap, in memory) on 127.0.0.1.

It runs in this process, on its own thread and event loop, with one mailbox: every message handed
to its SMTP port lands in the INBOX that its IMAP port serves. With ``tls=True`` it also speaks
SMTP STARTTLS and SMTPS with a throw-away self-signed certificate (``ca_file`` trusts it); its IMAP
side is plain text only.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import imaplib
import smtplib
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.email import EmailConfig

HOST = "127.0.0.1"
USER = "owner@example.test"
PASSWORD = "correct horse battery staple"


def free_ports(count: int) -> list[int]:
    """Distinct ports nothing listens on right now (all held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    """A port nothing listens on (what a test uses for an unreachable server)."""
    return free_ports(1)[0]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    names = ["-addext", f"subjectAltName=IP:{HOST},DNS:localhost"]
    subprocess.run(
        ["openssl", *request, *names, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return cert, key


@dataclass
class MailServer:
    imap_port: int
    smtp_port: int
    smtps_port: int | None = None
    ca_file: Path | None = None
    user: str = USER
    password: str = PASSWORD

    def config(self, **overrides: Any) -> EmailConfig:
        """A connector configuration for this server (plain text, as only 127.0.0.1 may use)."""
        values: dict[str, Any] = {
            "imap_host": HOST,
            "imap_port": self.imap_port,
            "smtp_host": HOST,
            "smtp_port": self.smtp_port,
            "username": self.user,
            "password": SecretStr(self.password),
            "address": self.user,
            "display_name": "Sam Owner",
            "security": "none",
            "timeout": 5,
        }
        return EmailConfig.model_validate({**values, **overrides})

    def _imap(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(HOST, self.imap_port, timeout=5)
        conn.login(self.user, self.password)
        return conn

    def append(self, raw: bytes, mailbox: str = "INBOX", *, received: datetime | None = None) -> None:
        """Put raw bytes in a mailbox as they are (how a provider delivers mail, malformed or not),
        received now or at ``received``."""
        conn = self._imap()
        try:
            when = imaplib.Time2Internaldate(received) if received else None
            status, data = conn.append(mailbox, None, when, raw)
            assert status == "OK", data
        finally:
            conn.logout()

    def deliver(self, message: EmailMessage) -> None:
        """Hand a message to the server's SMTP port, as another mail server would."""
        with smtplib.SMTP(HOST, self.smtp_port, timeout=5) as smtp:
            smtp.login(self.user, self.password)
            smtp.send_message(message)

    def inbox(self) -> list[tuple[set[str], email.message.EmailMessage]]:
        """Every message in the INBOX with its flags, oldest first."""
        conn = self._imap()
        try:
            conn.select("INBOX", readonly=True)
            status, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
            assert status == "OK", data
            found = []
            for item in data:
                if isinstance(item, tuple):
                    flags = set(imaplib.ParseFlags(item[0]) or ())
                    parsed = email.message_from_bytes(item[1], policy=email.policy.default)
                    assert isinstance(parsed, email.message.EmailMessage)
                    found.append(({f.decode() for f in flags}, parsed))
            return found
        finally:
            conn.logout()


@contextlib.contextmanager
def running_mail_server(*, tls: bool = False) -> Iterator[MailServer]:
    """Start mail-devel on free ports of 127.0.0.1 and stop it afterwards."""
    with tempfile.TemporaryDirectory(prefix="soloos-mail-") as tmp:
        tls_files = _self_signed(Path(tmp)) if tls else None
        for attempt in range(3):  # another process may take a free port before the server binds it
            try:
                started = _start(tls_files)
                break
            except OSError:
                if attempt == 2:
                    raise
        server, stop = started
        try:
            yield server
        finally:
            stop()


def _start(tls_files: tuple[Path, Path] | None) -> tuple[MailServer, Callable[[], None]]:
    from mail_devel.service import Service

    imap_port, smtp_port, smtps_port = free_ports(3)
    server = MailServer(imap_port, smtp_port, smtps_port if tls_files else None)
    args = ["--host", HOST, "--imap-port", str(server.imap_port), "--smtp-port", str(server.smtp_port)]
    args += ["--no-http", "--user", server.user, "--password", server.password, "--auth-required"]
    if tls_files:
        server.ca_file = tls_files[0]
        args += ["--cert", str(tls_files[0]), "--key", str(tls_files[1]), "--smtps-port", str(smtps_port)]
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()

    async def serve() -> None:
        try:
            service = await Service.init(Service.parse(args))
            async with service.start():
                ready.set()
                try:
                    await stopping.wait()
                finally:
                    for controller in (service.smtp, service.smtps):
                        if controller is not None and controller.server is not None:
                            controller.stop()
        except BaseException as err:
            failure.append(err)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name="mail-devel", daemon=True)
    thread.start()

    def stop() -> None:
        loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        loop.close()

    if not ready.wait(30) or failure:
        thread.join(10)
        loop.close()
        if failure and isinstance(failure[0], OSError):
            raise failure[0]
        raise RuntimeError(f"mail-devel did not start: {failure}")
    return server, stop
