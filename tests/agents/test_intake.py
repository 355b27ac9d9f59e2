"""Client intake (issue #7): a lead from chat or e-mail becomes a contact, a project memory, a first
reply held for approval, and a follow-up task — once, however often the message is delivered — and
the time to the first reply sent is measured."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from agents import Budget, Prices
from agents.intake import Lead, follow_up_due, lead_from_chat, take_lead
from agents.team import TurnDeps, draft_writer
from bot.app import App
from bot.metrics import RecordsCollector
from bot.sync import Syncer
from connectors.registry import stored
from tests.support.chat import FakeChat
from tests.support.letters import letter
from tests.support.mail_server import MailServer
from tests.support.models import Script

LEAD = "new lead: Jane Doe <jane@foo.test> wants a website redesign"


def rows(app: App, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with app.memory.db.connection() as conn:
        return list(conn.execute(sql.encode(), params).fetchall())


async def counts(app: App, workspace: str) -> dict[str, int]:
    tables = ("intakes", "drafts", "approvals", "tasks", "contacts", "outbox")
    found = {}
    for table in tables:
        [(n,)] = await asyncio.to_thread(rows, app, f"SELECT count(*) FROM {table} WHERE workspace = %s", workspace)
        found[table] = n
    return found


def test_a_lead_is_read_from_the_operators_words() -> None:
    now = datetime.now(UTC)
    lead = lead_from_chat("Jane Doe <jane@foo.test> wants a website redesign", now)
    assert lead is not None and (lead.name, lead.email, lead.need) == (
        "Jane Doe",
        "jane@foo.test",
        "a website redesign",
    )
    other = lead_from_chat("Bob Smith bob@bar.test: logo for his bakery", now)
    assert other is not None and (other.name, other.email, other.need) == (
        "Bob Smith",
        "bob@bar.test",
        "logo for his bakery",
    )
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # two business days after a Friday is Tuesday
    assert follow_up_due(friday, "Europe/Berlin") == datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))


async def test_a_lead_from_chat_gets_contact_memory_reply_approval_and_task_once(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    reply = await chat.say(LEAD)
    assert "New lead: Jane Doe <jane@foo.test> — a website redesign." in reply
    assert "jane@foo.test is not among your known contacts" in reply  # the policy sees a new counterparty
    assert "Hi Jane," in reply and "Best regards,\ntester" in reply  # the template, signed as the operator
    [approve, _deny, _details] = chat.replies[-1].buttons
    [approval] = await app.gate.pending(workspace)
    assert approval.action.type == "email.send" and approval.action.args["to"] == "jane@foo.test"
    assert approve.action == f"/approve {approval.id}"

    [contact] = [c for c in await app.memory.records.list_contacts(workspace=workspace) if c.email == "jane@foo.test"]
    assert contact.name == "Jane Doe"
    known = await asyncio.to_thread(app.memory.records.known_counterparties_sync, workspace)
    assert "jane@foo.test" not in known  # taking a lead in does not vouch for them
    memories = [m.text for m in await app.memory.list(workspace, layer="project")]
    assert any(m.startswith("Lead: Jane Doe (jane@foo.test) asked about a website redesign") for m in memories)
    [task] = await app.memory.records.list_tasks(workspace=workspace)
    assert task.title == "Follow up with Jane Doe (lead)" and task.due_at is not None
    assert task.due_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 9 and task.due_at.weekday() < 5
    [draft] = await app.memory.drafts.latest(workspace)
    assert draft.created_by == "intake" and draft.approval_id == approval.id and draft.status == "awaiting approval"
    assert draft.inputs["writer"] == "template" and draft.inputs["facts"]["need"] == "a website redesign"
    await chat.say(f"/draft {draft.id}")  # the draft can be approved from where it is shown, too
    assert [b.action for b in chat.replies[-1].buttons][:1] == [f"/approve {approval.id}"]
    before = await counts(app, workspace)
    assert before == {"intakes": 1, "drafts": 1, "approvals": 1, "tasks": 1, "contacts": 1, "outbox": 0}

    again = await chat.say(LEAD)  # told twice: still one lead
    assert "already a lead" in again
    await chat.say(LEAD, key=f"test:{chat.session}:1")  # a redelivered chat message
    assert await counts(app, workspace) == before


async def test_a_lead_never_rewrites_or_vouches_through_a_contact_with_the_same_name(app: App, workspace: str) -> None:
    await app.memory.records.upsert_contact("Jane Doe", workspace=workspace, email="jane@client.test")
    reply = await FakeChat(app, workspace).say(LEAD)  # another Jane Doe, at jane@foo.test

    assert "jane@foo.test is not among your known contacts" in reply
    contacts = {c.name: c.email for c in await app.memory.records.list_contacts(workspace=workspace)}
    assert contacts == {"Jane Doe": "jane@client.test", "Jane Doe <jane@foo.test>": "jane@foo.test"}
    known = await asyncio.to_thread(app.memory.records.known_counterparties_sync, workspace)
    assert "jane@client.test" in known and "jane@foo.test" not in known


async def test_duplicate_delivery_racing_itself_takes_the_lead_once(app: App, workspace: str) -> None:
    lead = Lead("Ann Lee", "ann@lee.test", "bookkeeping", "email:<ann-1@lee.test>", "email", datetime.now(UTC))

    async def take() -> bool:
        taken = await take_lead(
            lead,
            memory=app.memory,
            gate=app.gate,
            workspace=workspace,
            operator="tester",
            intent_key=None,
            timezone="Europe/Berlin",
            signature="Sam",
        )
        return taken.new

    results = await asyncio.gather(take(), take(), take())
    assert sorted(results) == [False, False, True]
    found = await counts(app, workspace)
    assert (found["intakes"], found["drafts"], found["approvals"], found["tasks"]) == (1, 1, 1, 1)


async def test_with_a_model_the_drafting_agent_writes_the_first_reply(app: App, workspace: str) -> None:
    script = Script([], specialist="Subject: Your bookkeeping\n\nHi Ann, happy to help with the books.\n\nSam")
    deps = TurnDeps(
        app.memory,
        app.gate,
        workspace,
        "tester",
        "k",
        "deterministic",
        script.tiers(),
        "strong",
        Budget(Decimal("5"), Decimal("50")),
        Prices(Decimal("0"), Decimal("0")),
        "",
    )
    lead = Lead("Ann Lee", "ann@lee.test", "bookkeeping", "chat:ann@lee.test", "chat", datetime.now(UTC))
    taken = await take_lead(
        lead,
        memory=app.memory,
        gate=app.gate,
        workspace=workspace,
        operator="tester",
        intent_key="k",
        timezone="Europe/Berlin",
        signature="Sam",
        write=draft_writer(deps),
    )
    [draft] = await app.memory.drafts.latest(workspace)
    assert script.calls == ["specialist"] and taken.approval is not None
    assert draft.body.startswith("Hi Ann, happy to help") and draft.inputs["writer"] == "model"
    assert taken.approval.action.args["body"] == draft.body


async def test_lead_response_time_is_measured_once_the_reply_is_sent(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    await chat.say(LEAD)
    [approve, _deny, _details] = chat.replies[-1].buttons
    waiting = await chat.say("/leads")
    assert "Jane Doe <jane@foo.test>" in waiting and "waiting for your approval" in waiting
    assert "Approved" in await chat.press(approve.action)
    assert "replied in" not in await chat.say("/leads")  # queued in the undo window is not a reply yet

    def delivered() -> None:
        with app.memory.db.connection() as conn:
            conn.execute(
                """UPDATE intakes SET first_seen_at = now() - interval '90 minutes' WHERE workspace = %s""",
                (workspace,),
            )
            conn.execute("UPDATE outbox SET status = 'sent', sent_at = now() WHERE workspace = %s", (workspace,))

    await asyncio.to_thread(delivered)
    report = await chat.say("/leads")
    assert "replied in 1 h 30 min" in report and "Median response time: 1 h 30 min over 1 answered" in report
    metrics = {m.name: m.samples for m in RecordsCollector(app.memory, workspace).collect()}
    [median] = metrics["soloos_lead_response_seconds_median"]
    assert 5390 <= median.value <= 5410
    assert metrics["soloos_leads_unanswered"][0].value == 0


async def test_a_new_senders_mail_becomes_one_lead_and_automated_mail_does_not(
    app: App, mail_server: MailServer, workspace: str
) -> None:
    await app.memory.connectors.save(workspace, "email", stored(mail_server.config()), health_detail="ok")
    mail_server.deliver(letter("Jane Doe <jane@newclient.test>", "Website redesign", "<lead-1@newclient.test>"))
    mail_server.deliver(letter("Shop <news@shop.test>", "Sale!", "<n1@shop.test>", List_Unsubscribe="<mailto:u@x>"))
    mail_server.deliver(letter("no-reply@bank.test", "Statement", "<s1@bank.test>"))
    mail_server.deliver(letter("Out <away@far.test>", "Away", "<a1@far.test>", Auto_Submitted="auto-replied"))
    mail_server.deliver(letter("Bulk <b@bulk.test>", "Digest", "<d1@bulk.test>", Precedence="bulk"))
    mail_server.deliver(letter("Joe <joe@else.test>", "Re: ours", "<r1@else.test>", In_Reply_To="<older@example.test>"))
    syncer = Syncer(
        app.memory,
        workspace=workspace,
        operator="tester",
        timezone="Europe/Berlin",
        conninfo=app.memory.db.target.conninfo,
        every=timedelta(minutes=5),
        gate=app.gate,
        signature="Sam Owner",
    )
    [line] = await syncer.tick()
    assert line == "email: 6 new, 0 quarantined, 1 new lead, 0 sent", line
    [lead] = await app.memory.intakes.list(workspace)
    assert (lead.name, lead.email, lead.need, lead.channel) == (
        "Jane Doe",
        "jane@newclient.test",
        "Website redesign",
        "email",
    )
    [approval] = await app.gate.pending(workspace)
    assert approval.action.args["to"] == "jane@newclient.test"
    assert approval.action.args["in_reply_to"] == "<lead-1@newclient.test>"
    assert approval.action.args["subject"] == "Re: Website redesign"
    notices = await asyncio.to_thread(
        rows, app, "SELECT body FROM schedules WHERE workspace = %s AND kind = 'notice'", workspace
    )
    assert len(notices) == 1 and approval.id in notices[0][0] and "Jane Doe" in notices[0][0]
    before = await counts(app, workspace)

    # the same message delivered again, and another round: nothing new
    mail_server.deliver(letter("Jane Doe <jane@newclient.test>", "Website redesign", "<lead-1@newclient.test>"))
    assert await syncer.tick() == ["email: 0 new, 0 quarantined, 0 sent"]
    assert await counts(app, workspace) == before

    # approved, past the undo window, sent through the real SMTP server: the response time is measured
    chat = FakeChat(app, workspace)
    assert "Approved" in await chat.press(f"/approve {approval.id}")

    def past_undo_window() -> None:
        with app.memory.db.connection() as conn:
            conn.execute("UPDATE outbox SET send_after = now() WHERE workspace = %s", (workspace,))

    await asyncio.to_thread(past_undo_window)
    await syncer.tick()
    sent = [m for _, m in mail_server.inbox() if m["To"] == "jane@newclient.test"]
    assert len(sent) == 1 and sent[0]["Subject"] == "Re: Website redesign"
    assert sent[0]["In-Reply-To"] == "<lead-1@newclient.test>"  # the reply is in the lead's thread
    assert "<lead-1@newclient.test>" in sent[0]["References"]
    assert "replied in" in await chat.say("/leads")
