"""What SoloOS learned is visible and reversible: the briefing lists what was learned since the last
one with Keep / Forget, the buttons act once and answer plainly, ``/memory learned`` shows where each
fact came from."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from agents.briefing import assemble, buttons_of
from bot.app import App
from bot.console import pick, render
from memory import MemoryItem
from tests.support.chat import FakeChat

SAID = "Acme just told me they will pay invoice 42 about three weeks late this month, sadly"


async def learn(
    app: App,
    workspace: str,
    text: str,
    *,
    source: str = "learned",
    subject: str | None = None,
    said: str = SAID,
    created_ago: timedelta | None = None,
) -> MemoryItem:
    """A fact as LEARN writes it (contract 2), optionally created some time ago."""
    now = app.memory.clock.now()
    item = await app.memory.remember(
        text,
        layer="project",
        workspace=workspace,
        source=source,
        subject=subject,
        occurred_at=now - created_ago if created_ago else None,
        metadata={"said": said, "said_at": now.isoformat(), "conversation": None, "by": "mem0"},
    )
    if created_ago:
        _sql(app, "UPDATE memories SET created_at = %s WHERE id = %s", now - created_ago, item.id)
    return item


def _sql(app: App, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with app.memory.db.connection() as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


async def briefing_sent(app: App, workspace: str, at: datetime) -> None:
    """A daily briefing delivered at ``at`` (its schedule cancelled again, so no scheduler fires it)."""
    schedules = app.memory.schedules
    schedule = await schedules.create(
        workspace=workspace,
        operator="tester",
        kind="briefing",
        body="",
        conversation="test:briefing",
        timezone="Europe/Berlin",
        crontab="0 7 * * *",
    )
    await schedules.set_status(schedule.id, "cancelled", workspace=workspace)
    delivery = schedules.claim_sync(schedule, at)
    assert delivery is not None
    schedules.sent_sync(delivery, "test:briefing", at)


async def brief(app: App, workspace: str):  # type: ignore[no-untyped-def]
    return await assemble(
        app.memory, app.gate, workspace=workspace, timezone="Europe/Berlin", budget=app.runner.budget, chart=False
    )


async def test_the_briefing_lists_what_was_learned_since_the_last_one_with_keep_and_forget(
    app: App, workspace: str
) -> None:
    now = app.memory.clock.now()
    before = await learn(
        app, workspace, "Acme pays invoice 42 on time", subject="acme · invoice 42", created_ago=timedelta(days=2)
    )
    await briefing_sent(app, workspace, now - timedelta(days=1))
    late = await learn(app, workspace, "Acme pays invoice 42 three weeks late", subject="acme · invoice 42")
    told = await learn(app, workspace, "Our day rate is 900 EUR", source="told", said="remember our day rate is 900")
    await app.memory.remember("Jane prefers calls", layer="project", workspace=workspace, source="console:tester")

    briefing = await brief(app, workspace)

    assert "Learned since the last briefing (Keep or Forget each):" in briefing.text
    assert (
        f"1. Our day rate is 900 EUR [{told.short_id}] (you told me)" in briefing.text
        or f"2. Our day rate is 900 EUR [{told.short_id}] (you told me)" in briefing.text
    )
    assert (
        f"Acme pays invoice 42 three weeks late [{late.short_id}] (learned from what you said; "
        "replaces: Acme pays invoice 42 on time)" in briefing.text
    )
    assert f"[{before.short_id}]" not in briefing.text  # learned before the last briefing
    assert "Jane prefers calls" not in briefing.text.partition("Learned since")[2]  # not learned: remembered
    actions = {b.action for b in briefing.buttons}
    assert actions == {f"mem:{verb}:{item.short_id}" for verb in ("keep", "forget") for item in (late, told)}
    assert {b.label for b in briefing.buttons} == {"Keep 1", "Forget 1", "Keep 2", "Forget 2"}


async def test_the_briefing_list_is_bounded_and_absent_when_nothing_was_learned(app: App, workspace: str) -> None:
    quiet = await brief(app, workspace)
    assert "Learned since" not in quiet.text and quiet.buttons == ()

    for n in range(11):
        await learn(app, workspace, f"Client number {n} pays net {n + 10}")
    briefing = await brief(app, workspace)
    assert len(briefing.buttons) == 16  # eight facts, Keep and Forget each
    assert "…and 3 more — /memory learned" in briefing.text
    assert buttons_of(briefing.text) == briefing.buttons  # a briefing sent again has them too
    assert buttons_of(quiet.text) == ()


async def test_keep_and_forget_from_the_console_briefing(app: App, workspace: str) -> None:
    """The console shows the buttons as numbered choices; a number presses one."""
    old = await learn(
        app, workspace, "Acme's day rate is 800 EUR", subject="acme's day rate", created_ago=timedelta(days=3)
    )
    new = await learn(app, workspace, "Acme's day rate is 950 EUR", subject="acme's day rate")
    chat = FakeChat(app, workspace)
    await chat.say("/brief")
    shown = chat.replies[-1]
    assert "[1] Keep 1   [2] Forget 1" in render(shown)

    assert pick("2", shown) == f"mem:forget:{new.short_id}"
    assert await chat.press(pick("2", shown)) == (
        "Forgot: Acme's day rate is 950 EUR (/undo brings it back)\n"
        f"What I had before holds again: Acme's day rate is 800 EUR [{old.short_id}]"
    )
    hits = await app.memory.recall("Acme day rate", workspace=workspace, k=3)
    assert [h.text for h in hits] == ["Acme's day rate is 800 EUR"]  # the older fact is current again
    assert await chat.press(f"mem:forget:{new.short_id}") == "Already forgotten: Acme's day rate is 950 EUR"
    assert await chat.press(f"mem:keep:{new.short_id}") == (
        "Already forgotten: Acme's day rate is 950 EUR — there is nothing to keep."
    )

    assert await chat.press(f"mem:keep:{old.short_id}") == f"Kept: Acme's day rate is 800 EUR [{old.short_id}]"
    assert await chat.press(f"mem:keep:{old.short_id}") == f"Already kept: Acme's day rate is 800 EUR [{old.short_id}]"
    kept = await app.memory.get(old.id, workspace=workspace)
    assert kept.metadata["kept"] is True and kept.metadata["said"] == SAID and kept.confirmed

    events = _sql(
        app,
        "SELECT action_type, outcome FROM audit_events WHERE workspace = %s AND action_type LIKE 'memory.%%' "
        "ORDER BY id",
        workspace,
    )
    assert events == [
        ("memory.forget", f"forgot: Acme's day rate is 950 EUR [{new.short_id}]"),
        ("memory.keep", f"kept: Acme's day rate is 800 EUR [{old.short_id}]"),
    ]


async def test_a_press_delivered_twice_acts_once_and_another_workspace_cannot_touch_the_fact(
    app: App, workspace: str
) -> None:
    fact = await learn(app, workspace, "Globex signs the contract on Monday")
    chat = FakeChat(app, workspace)
    press = dataclasses.replace(chat.intent(f"mem:forget:{fact.short_id}", key="tg:press:1"), pressed=True)
    first = await app.dispatcher.handle(press)
    again = await app.dispatcher.handle(press)  # the channel delivered the same press again
    assert first.text == "Forgot: Globex signs the contract on Monday (/undo brings it back)"
    assert again.duplicate and again.text == first.text
    forgets = _sql(
        app, "SELECT count(*) FROM audit_events WHERE workspace = %s AND action_type = 'memory.forget'", workspace
    )
    assert forgets == [(1,)]

    other = FakeChat(app, f"{workspace}-other")
    kept = await learn(app, workspace, "Initech pays by bank transfer only")
    assert await other.press(f"mem:forget:{kept.short_id}") == (
        f"I have no fact {kept.short_id} (it may have been forgotten already), so there is nothing to do."
    )
    assert await other.press(f"mem:keep:{kept.short_id}") == (
        f"I have no fact {kept.short_id} (it may have been forgotten), so there is nothing to keep."
    )
    still = await app.memory.get(kept.id, workspace=workspace)
    assert "kept" not in still.metadata


async def test_memory_learned_shows_each_fact_with_the_message_it_came_from(app: App, workspace: str) -> None:
    chat = FakeChat(app, workspace)
    assert (await chat.say("/memory learned")).startswith("I haven't learned anything from our conversations yet.")
    await learn(
        app, workspace, "Acme pays invoice 42 on time", subject="acme · invoice 42", created_ago=timedelta(hours=2)
    )
    late = await learn(app, workspace, "Acme pays invoice 42 three weeks late", subject="acme · invoice 42")
    await app.memory.remember("Jane prefers calls", layer="project", workspace=workspace, source="console:tester")

    listed = await chat.say("/memory learned")
    assert listed.startswith("What I learned recently, newest first:\n")
    assert f"- Acme pays invoice 42 three weeks late [{late.short_id}] — " in listed
    assert "learned from what you said; replaces: Acme pays invoice 42 on time" in listed
    assert "  from: “Acme just told me they will pay invoice 42 about three weeks late this month, sadly”" in listed
    assert "Jane prefers calls" not in listed

    plain = await chat.say("/memory")
    assert plain.startswith("Latest memories:\n- Jane prefers calls")
    assert "Recently learned (/memory learned shows each with the message it came from):" in plain
    assert f"- Acme pays invoice 42 three weeks late [{late.short_id}] (learned from what you said)" in plain


async def test_undo_brings_a_forgotten_fact_back(app: App, workspace: str) -> None:
    old = await learn(
        app, workspace, "Acme's day rate is 800 EUR", subject="acme's day rate", created_ago=timedelta(days=3)
    )
    new = await learn(app, workspace, "Acme's day rate is 950 EUR", subject="acme's day rate")
    chat = FakeChat(app, workspace)
    await chat.press(f"mem:forget:{new.short_id}")
    assert await chat.say("/undo") == (
        f"Undone: forgot: Acme's day rate is 950 EUR [{new.short_id}] — the memory is back."
    )
    back = await app.memory.get(new.id, workspace=workspace)
    assert back.current and back.metadata["said"] == SAID and back.source == "learned"
    hits = await app.memory.recall("Acme day rate", workspace=workspace, k=3)
    assert [h.id for h in hits] == [new.id]  # the newer fact holds again, the older is history
    assert not (await app.memory.get(old.id, workspace=workspace)).current
    assert await chat.say("/undo") == "There is nothing I can undo."


async def test_a_typed_forget_is_audited_and_undone_like_the_button(app: App, workspace: str) -> None:
    """By id or by words that match one memory: the same forgetting as the Forget button."""
    rate = await app.memory.remember("Hooli's day rate is 700 EUR", layer="project", workspace=workspace)
    iban = await learn(app, workspace, "Globex pays from IBAN DE02 1203 0000 0000 2020 51")
    chat = FakeChat(app, workspace)

    assert await chat.say(f"forget {rate.short_id}") == "Forgot: Hooli's day rate is 700 EUR (/undo brings it back)"
    assert await chat.say("forget Globex IBAN") == (
        "Forgot: Globex pays from IBAN DE02 1203 0000 0000 2020 51 (/undo brings it back)"
    )
    events = _sql(
        app,
        "SELECT outcome FROM audit_events WHERE workspace = %s AND action_type = 'memory.forget' ORDER BY id",
        workspace,
    )
    assert events == [
        (f"forgot: Hooli's day rate is 700 EUR [{rate.short_id}]",),
        (f"forgot: Globex pays from IBAN DE02 1203 0000 0000 2020 51 [{iban.short_id}]",),
    ]
    assert (await chat.say("/undo")).endswith("— the memory is back.")
    back = await app.memory.get(iban.id, workspace=workspace)
    assert back.current and back.metadata["said"] == SAID
    assert (await chat.say("/undo")).endswith("— the memory is back.")
    assert (await app.memory.get(rate.id, workspace=workspace)).text == "Hooli's day rate is 700 EUR"


async def test_undo_takes_a_keep_back(app: App, workspace: str) -> None:
    fact = await learn(app, workspace, "Initech pays by bank transfer only")
    _sql(app, "UPDATE memories SET confirmed = false WHERE id = %s", fact.id)  # as if from a tainted turn
    chat = FakeChat(app, workspace)
    await chat.press(f"mem:keep:{fact.short_id}")
    kept = await app.memory.get(fact.id, workspace=workspace)
    assert kept.metadata["kept"] is True and kept.confirmed

    assert await chat.say("/undo") == (
        f"Undone: kept: Initech pays by bank transfer only [{fact.short_id}] — the fact is no longer kept."
    )
    again = await app.memory.get(fact.id, workspace=workspace)
    assert "kept" not in again.metadata and not again.confirmed and again.metadata["said"] == SAID
    kept_again = await chat.press(f"mem:keep:{fact.short_id}")
    assert kept_again == f"Kept: Initech pays by bank transfer only [{fact.short_id}]"
