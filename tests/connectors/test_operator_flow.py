"""Issue #6 as the operator does it: connect the local mail and calendar servers, import a bank
statement, ask what is overdue and who paid, and approve a drafted payment reminder that then goes
out once through the real SMTP server. No model anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from caldav.collection import Calendar

from bot.app import App
from tests.bot.test_sync import syncer
from tests.support.caldav_server import CalDAVServer
from tests.support.chat import FakeChat
from tests.support.mail_server import MailServer, running_mail_server


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server


async def test_connect_import_ask_and_approve_a_payment_reminder(  # type: ignore[no-untyped-def]
    run, app: App, mail_server: MailServer, server: CalDAVServer, calendar: Calendar, workspace: str, tmp_path: Path
) -> None:
    today = date.today()  # the CLI runs in a thread: it starts its own event loop
    # 1. connect the mail and calendar servers (each checked before it is saved)
    code, out, err = await asyncio.to_thread(
        run,
        "connect", "email", "--imap-host", "127.0.0.1", "--imap-port", str(mail_server.imap_port),
        "--smtp-host", "127.0.0.1", "--smtp-port", str(mail_server.smtp_port), "--username", mail_server.user,
        "--address", mail_server.user, "--security", "none", "--password", mail_server.password,
    )  # fmt: skip
    assert code == 0, err
    name = str(calendar.get_display_name())
    code, out, _ = await asyncio.to_thread(
        run,
        "connect", "calendar", "--url", server.url, "--username", server.username,
        "--password", server.password, "--calendar", name,
    )  # fmt: skip
    assert code == 0, out
    # under way now, so today's briefing lists it at any hour (one starting in an hour is tomorrow's
    # after 23:00 on the operator's clock)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    await asyncio.to_thread(
        calendar.save_event,
        dtstart=start,
        dtend=start + timedelta(hours=2),
        summary="Call with Acme",
        uid="call-acme@test",
    )
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Acme Billing <billing@acme.test>", mail_server.user, "Our PO"
    mail["Message-ID"] = "<po-7@acme.test>"
    mail.set_content("Here is our purchase order.")
    mail_server.deliver(mail)

    # 2. invoices and a bank statement
    for number, client in (("INV-7", "Acme"), ("INV-8", "Hooli")):
        code, out, err = await asyncio.to_thread(
        run,
            "invoice", "add", "--number", number, "--client", client, "--amount", "1200", "--currency", "EUR",
            "--issued", str(today - timedelta(days=40)), "--due", str(today - timedelta(days=10)),
        )  # fmt: skip
        assert code == 0, err
    statement = tmp_path / "statement.csv"
    statement.write_text(
        "Date,Description,Amount,Currency\n"
        f"{today:%Y-%m-%d},HOOLI INC payment INV-8,1200.00,EUR\n"
        f"{today:%Y-%m-%d},Coffee,-4.50,EUR\n",
        encoding="utf-8",
    )
    code, out, err = await asyncio.to_thread(run, "bank", "import", str(statement))
    assert code == 0, err
    assert "imported 2 transactions" in out and "1 matched" in out, out

    # 3. the background sync reads the mail and the calendar
    sync = syncer(app, workspace)
    lines = await sync.tick()
    assert sorted(line.split(":")[0] for line in lines) == ["calendar", "email"]
    assert all("failed" not in line for line in lines), lines

    # 4. ask, in chat
    chat = FakeChat(app, workspace)
    answer = await chat.say("which invoices are overdue and who paid this week?")
    assert "INV-7" in answer and "Acme" in answer and "Hooli" in answer
    brief = await chat.say("/brief")
    assert "Call with Acme" in brief and "INV-7 Acme" in brief

    # 5. a drafted reminder, held for approval, approved, sent once
    # issue 14: the sender's display name ("Acme Billing") is no address book; the operator says where
    asked = await chat.say("chase overdue invoices")
    assert "I have no e-mail address for Acme: say chase INV-7 to <address>." in asked
    drafted = await chat.say("chase INV-7 to billing@acme.test")
    assert "send a payment reminder for INV-7 to billing@acme.test" in drafted
    assert "A friendly reminder that invoice INV-7 for 1,200.00 EUR" in drafted
    assert drafted.count("Best regards,\ntester") == 1  # signed as the operator (SOLOOS_SIGNATURE overrides)
    [approve, _deny, _details] = chat.replies[-1].buttons
    assert (await sync.tick()) and not [m for _, m in mail_server.inbox() if "INV-7" in str(m["Subject"])]
    assert "Approved" in await chat.press(approve.action)

    def past_undo_window() -> None:
        with app.memory.db.connection() as conn:
            conn.execute("UPDATE outbox SET send_after = now() WHERE workspace = %s", (workspace,))

    await asyncio.to_thread(past_undo_window)
    await sync.tick()
    await sync.tick()
    sent = [m for _, m in mail_server.inbox() if "INV-7" in str(m["Subject"])]
    assert len(sent) == 1 and sent[0]["To"] == "billing@acme.test"
