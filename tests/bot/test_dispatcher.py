"""The console path end to end: Intent → dispatcher → local tier → memory, as an operator types it."""

from __future__ import annotations

from bot.app import App
from tests.support.chat import FakeChat


async def test_remember_then_recall_in_natural_phrasing(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    assert "Noted that" in await chat.say("remember that Acme pays invoices net 30")
    assert "Noted rule" in await chat.say("Always send invoices as PDF")
    answer = await chat.say("What do you know about Acme?")
    assert "Acme pays invoices net 30" in answer
    notes = await app.memory.list(workspace)
    assert {n.layer for n in notes} == {"project", "institutional"}


async def test_a_new_fact_replaces_the_old_one_visibly(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    await chat.say("remember Acme's day rate is 800 EUR")
    reply = await chat.say("remember Acme's day rate is 900 EUR")
    assert "replaces" in reply and "800" in reply
    answer = await chat.say("what is Acme's day rate?")
    assert "900 EUR" in answer and "800 EUR" not in answer


async def test_tasks_add_list_done(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    added = await chat.say("add task send invoice to Acme by Friday")
    assert added.startswith("Added task #") and "due" in added
    task_id = added.split("#", 1)[1].split(":", 1)[0]
    await chat.say("todo: renew the domain")
    listing = await chat.say("what's on my list?")
    assert "send invoice to Acme" in listing and "renew the domain" in listing
    assert "Done" in await chat.say(f"done {task_id}")
    assert "send invoice to Acme" not in await chat.say("tasks")
    assert "no task #999999" in (await chat.say("done 999999")).lower()


async def test_forget_asks_when_ambiguous_and_forgets_when_clear(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    await chat.say("remember the Hooli invoice is overdue")
    await chat.say("remember the Hooli contract renews in March")
    ambiguous = await chat.say("forget Hooli")
    assert "Several memories match" in ambiguous
    assert len(await app.memory.list(workspace)) == 2
    forgot = await chat.say("forget contract renews")
    assert forgot == "Forgot: the Hooli contract renews in March (/undo brings it back)"
    assert [i.text for i in await app.memory.list(workspace)] == ["the Hooli invoice is overdue"]


async def test_needs_model_says_what_to_configure(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    reply = await chat.say("draft a proposal for Acme's new website")
    assert "SOLOOS_MODEL_FAST" in reply
    assert await app.memory.list(workspace) == []


async def test_empty_and_huge_messages_lose_nothing(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    assert "empty" in await chat.say("")
    huge = "remember " + "x" * 1_000_000
    reply = await chat.say(huge)
    assert "1,000,009 characters" in reply and "Nothing was saved" in reply
    assert chat.replies[-1].ok is False
    assert await app.memory.list(workspace) == []
    assert "Noted" in await chat.say("remember the small things still work")


async def test_redelivered_message_is_handled_once(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    first = await chat.say("add task call the bank", key="telegram:update:4242")
    second = await chat.say("add task call the bank", key="telegram:update:4242")
    assert first == second
    tasks = await app.memory.records.list_tasks(workspace=workspace)
    assert [t.title for t in tasks] == ["call the bank"]


async def test_unknown_command_gets_help(app: App, workspace: str) -> None:
    reply = await FakeChat(app, workspace).say("/frobnicate")
    assert "don't know the command /frobnicate" in reply and "remember" in reply


async def test_nul_characters_are_refused_or_dropped_not_crashed_on(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    for text in ["what do you know about \x00acme", "add task call \x00Bob", "/why \x00", "hello\x00"]:
        reply = await chat.say(text)
        assert "Something went wrong" not in reply, text


async def test_brief_on_demand_from_records_with_no_model(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    await chat.say("remember that Hooli signed the contract")
    await chat.say("add task send Hooli the invoice tomorrow")
    await chat.say("add task renew the domain by yesterday")  # a date in the past: overdue
    brief = await chat.say("/brief")
    assert brief.startswith("*Briefing for ")
    assert "Tasks: 2 open" in brief
    assert "Nothing waits for your approval" in brief
    assert "3 actions done" in brief and "added task" in brief
    assert "Hooli signed the contract" in brief
    assert "Model spend: $0.00 today" in brief
    assert (await chat.say("/brief at 07:30")).startswith("Your briefing will arrive every day at 07:30")
    await chat.say("/brief off")


async def test_finance_questions_are_answered_from_records_without_a_model(app: App, workspace: str) -> None:
    from datetime import date, timedelta
    from decimal import Decimal

    today = date.today()
    await app.memory.finance.add_invoice(
        workspace,
        number="INV-42",
        client="Acme",
        amount=Decimal("900"),
        currency="EUR",
        issued_at=today - timedelta(days=45),
        due_at=today - timedelta(days=15),
    )
    answer = await FakeChat(app, workspace).say("which invoices are overdue?")
    assert "INV-42" in answer and "Acme" in answer
    assert "needs a language model" not in answer
