"""Connecting systems from the command line and keeping them in step: real mail server, real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from bot.app import App
from bot.sync import Syncer
from connectors.registry import stored
from tests.support.chat import FakeChat
from tests.support.mail_server import MailServer, running_mail_server


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server


def cli_args(server: MailServer, password: str) -> list[str]:
    return [
        "connect",
        "email",
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(server.imap_port),
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(server.smtp_port),
        "--username",
        server.user,
        "--address",
        server.user,
        "--security",
        "none",
        "--password",
        password,
    ]


def letter(subject: str, sender: str = "jane@acme.test") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "owner@example.test", subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@acme.test>"
    message.set_content("Hello, see the subject.")
    return message


def test_connect_checks_before_saving_then_lists_and_syncs(run, mail_server: MailServer) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(*cli_args(mail_server, "wrong password"))
    assert code == 2 and "nothing was saved: IMAP login failed" in err
    code, out, _ = run("connectors")
    assert out.startswith("No connectors yet")

    code, out, _ = run(*cli_args(mail_server, mail_server.password))
    assert code == 0 and out.startswith("email connected:")
    mail_server.deliver(letter("Retainer for Q1"))
    code, out, _ = run("sync", "email")
    assert code == 0 and out.startswith("email: 1 new, 0 already known, 0 quarantined")
    code, out, _ = run("sync", "email")
    assert out.startswith("email: 0 new, 0 already known")  # the read cursor moved past it
    code, out, _ = run("connectors", "--check")
    assert code == 0 and out.startswith("email: ok") and "last read" in out


def syncer(app: App, workspace: str) -> Syncer:
    return Syncer(
        app.memory,
        workspace=workspace,
        operator="tester",
        timezone="Europe/Berlin",
        conninfo=app.memory.db.target.conninfo,
        every=timedelta(minutes=5),
    )


async def test_a_connector_that_stops_working_is_reported_once_and_recovers(
    app: App, mail_server: MailServer, workspace: str
) -> None:
    working = stored(mail_server.config())
    await app.memory.connectors.save(workspace, "email", working, health_detail="ok")
    chat = FakeChat(app, workspace)
    await chat.say("hello")  # where the operator was last seen: the notice goes there
    sync = syncer(app, workspace)
    mail_server.deliver(letter("New lead from the website", sender="lead@newco.test"))
    assert await sync.tick() == ["email: 1 new, 0 quarantined, 0 sent"]
    [message] = await app.memory.messages.recent(workspace)
    assert message.subject == "New lead from the website" and message.untrusted

    await app.memory.connectors.save(workspace, "email", {**working, "password": "rotated"}, health_detail="ok")
    first = await sync.tick()
    second = await sync.tick()
    assert first[0].startswith("email: reading failed (EmailError: IMAP login failed")
    assert second == first  # still failing, still recorded …
    notices = [s for s in await app.memory.schedules.active(workspace=workspace) if s.kind == "notice"]
    assert len(notices) == 1  # … but the operator is told once
    assert notices[0].conversation == f"test:{chat.session}"
    assert notices[0].body.startswith("Your email connection stopped working: reading failed")
    assert "docs/runbooks/connector-auth-failure.md" in notices[0].body
    record = await app.memory.connectors.get(workspace, "email")
    assert record is not None and record.healthy is False

    await app.memory.connectors.save(workspace, "email", working, health_detail="ok")
    await app.memory.connectors.record_health(workspace, "email", healthy=False, detail="was failing")
    assert (await sync.tick())[0].startswith("email: 0 new")
    record = await app.memory.connectors.get(workspace, "email")
    assert record is not None and (record.healthy, record.health_detail) == (True, "working again")


async def test_mail_approved_in_chat_is_sent_once_after_its_undo_window(
    app: App, mail_server: MailServer, workspace: str
) -> None:
    await app.memory.connectors.save(workspace, "email", stored(mail_server.config()), health_detail="ok")

    def queue() -> None:
        with app.memory.db.connection() as conn:
            conn.execute(
                """INSERT INTO outbox (workspace, recipient, subject, body, status, idempotency_key, send_after)
                   VALUES (%s, 'jane@acme.test', 'Invoice 42', 'Dear Jane, a friendly reminder.', 'queued', %s, %s),
                          (%s, 'bob@acme.test', 'Not yet', 'Still in its undo window.', 'queued', %s, %s)""",
                (
                    workspace,
                    f"{workspace}:a",
                    datetime.now(UTC) - timedelta(seconds=1),
                    workspace,
                    f"{workspace}:b",
                    datetime.now(UTC) + timedelta(hours=1),
                ),
            )

    import asyncio

    await asyncio.to_thread(queue)
    sync = syncer(app, workspace)
    assert await sync.tick() == ["email: 0 new, 0 quarantined, 1 sent"]
    assert await sync.tick() == ["email: 0 new, 0 quarantined, 0 sent"]  # our own copy was filed when sent
    delivered = [m for _, m in mail_server.inbox() if m["Subject"] == "Invoice 42"]
    assert len(delivered) == 1 and delivered[0]["To"] == "jane@acme.test"
    assert not [m for _, m in mail_server.inbox() if m["Subject"] == "Not yet"]


def test_bank_statements_dropped_in_a_folder_are_imported_once(run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "statements"
    code, out, _ = run("connect", "bank", "--folder", str(folder), "--currency", "EUR")
    assert code == 0 and out.startswith("bank connected: imports statements (.ofx .qfx .csv) dropped into")
    (folder / "november.csv").write_text(
        "Date,Description,Amount\n2026-11-20,ACME LTD invoice INV-1,900.00\n2026-11-21,Coffee,-3.20\n",
        encoding="utf-8",
    )
    (folder / "notes.csv").write_text("this is not a statement\n", encoding="utf-8")
    code, out, _ = run("sync", "bank")
    assert code == 0 and out.startswith("bank: 2 new, 0 already known, 0 quarantined")
    assert "notes.csv:" in out
    assert (folder / "imported" / "november.csv").exists()
    assert (folder / "rejected" / "notes.csv.why.txt").read_text().strip()
    code, out, _ = run("sync", "bank")
    assert out.startswith("bank: 0 new, 0 already known, 0 quarantined")  # the folder is empty again
    code, out, _ = run("connect", "bank", "--folder", "/proc/no-such-place", "--currency", "EUR")
    assert code == 2


def test_an_ics_file_imports_from_the_command_line(run) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    data = Path(__file__).parents[1] / "connectors" / "calendar" / "data"
    code, out, _ = run("calendar", "import", str(data / "one_broken.ics"))
    assert code == 0 and out.startswith("one_broken.ics: 2 events imported, 0 already known, 1 quarantined")
    assert "it ends (2027-03-05 12:00 UTC) before it starts" in out
    code, out, err = run("calendar", "import", str(data / "not_a_calendar.ics"))
    assert code == 2 and "not_a_calendar.ics" in err
