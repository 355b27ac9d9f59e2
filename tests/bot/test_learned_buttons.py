"""Keep / Forget on a learned fact, pressed in Telegram and Slack (local stand-ins over real HTTP):
each press answers in a new message and leaves the briefing with its other buttons."""

from __future__ import annotations

from bot.app import App
from tests.agents.test_learned_review import learn
from tests.bot.test_slack import OWNER as SLACK_OWNER
from tests.bot.test_slack import _channel as slack_channel
from tests.bot.test_telegram import OWNER as TELEGRAM_OWNER
from tests.bot.test_telegram import _channel as telegram_channel
from tests.support.slack_server import FakeSlack, button_body, command_body, post_signed
from tests.support.telegram_server import FakeTelegram


async def test_keep_and_forget_from_the_briefing_in_telegram(app: App, telegram: FakeTelegram, workspace: str) -> None:
    rate = await learn(app, workspace, "Acme's day rate is 950 EUR", subject="acme's day rate")
    terms = await learn(app, workspace, "Globex pays net 45", source="told", said="remember Globex pays net 45")
    channel = await telegram_channel(app, telegram, workspace)
    try:
        telegram.push_text("/brief")
        [briefing] = await telegram.wait_for("sendMessage", 1)
        keyboard = [b for row in briefing["reply_markup"]["inline_keyboard"] for b in row]
        actions = {b["text"]: b["callback_data"] for b in keyboard}
        assert set(actions.values()) == {
            f"mem:{verb}:{item.short_id}" for verb in ("keep", "forget") for item in (rate, terms)
        }
        number = 1 if actions["Keep 1"].endswith(rate.short_id) else 2
        message = {"message_id": 70, "date": 0, "chat": {"id": TELEGRAM_OWNER, "type": "private"}, "text": "Briefing"}
        telegram.push_callback(actions[f"Forget {number}"], message=message)
        await telegram.wait_for("sendMessage", 2)
        telegram.push_callback(actions[f"Forget {number}"], message=message)  # pressed again later
        await telegram.wait_for("sendMessage", 3)
        telegram.push_callback(actions[f"Keep {3 - number}"], message=message)
        sent = await telegram.wait_for("sendMessage", 4)
    finally:
        await channel.stop()
    assert [m["text"] for m in sent[1:]] == [
        "Forgot: Acme's day rate is 950 EUR (/undo brings it back)",
        "Already forgotten: Acme's day rate is 950 EUR",
        f"Kept: Globex pays net 45 [{terms.short_id}]",
    ]
    assert telegram.calls("editMessageText") == []  # the briefing keeps its buttons
    assert [m.text for m in await app.memory.list(workspace)] == ["Globex pays net 45"]
    assert (await app.memory.get(terms.id, workspace=workspace)).metadata["kept"] is True


async def test_keep_and_forget_from_the_briefing_in_slack(app: App, slack: FakeSlack, workspace: str) -> None:
    fact = await learn(app, workspace, "Initech's deadline is 30 April", subject="initech's deadline")
    channel = await slack_channel(app, slack, workspace)
    try:
        await post_signed(channel.http_url, command_body("brief", user=SLACK_OWNER))
        [briefing] = await slack.wait_for("chat.postMessage", 1)
        buttons = briefing["blocks"][-1]["elements"]
        assert [(b["text"]["text"], b["value"]) for b in buttons] == [
            ("Keep 1", f"mem:keep:{fact.short_id}"),
            ("Forget 1", f"mem:forget:{fact.short_id}"),
        ]
        message = {"ts": "1700000000.000200", "text": briefing["text"], "blocks": briefing["blocks"]}
        await post_signed(channel.http_url, button_body(buttons[0]["value"], user=SLACK_OWNER, message=message))
        await slack.wait_for("chat.postMessage", 2)
        await post_signed(channel.http_url, button_body(buttons[1]["value"], user=SLACK_OWNER, message=message))
        await slack.wait_for("chat.postMessage", 3)
        await post_signed(channel.http_url, button_body(buttons[1]["value"], user=SLACK_OWNER, message=message))
        posts = await slack.wait_for("chat.postMessage", 4)
    finally:
        await channel.stop()
    assert [p["text"] for p in posts[1:]] == [
        f"Kept: Initech's deadline is 30 April [{fact.short_id}]",
        "Forgot: Initech's deadline is 30 April (/undo brings it back)",
        "Already forgotten: Initech's deadline is 30 April",
    ]
    assert slack.of("chat.update") == []  # the briefing keeps its buttons
    assert await app.memory.list(workspace) == []


async def test_the_scheduled_briefing_carries_the_buttons(app: App, slack: FakeSlack, workspace: str) -> None:
    from datetime import timedelta

    from tests.bot.test_scheduler import backdate, daily, lead

    fact = await learn(app, workspace, "Hooli pays in advance")
    channel = await slack_channel(app, slack, workspace)
    app.outbound.register("slack", channel.send)
    try:
        due = await daily(
            app, workspace, kind="briefing", body="", conversation="slack:D0OWNER", ago=timedelta(minutes=2)
        )
        await backdate(app, due.id, timedelta(minutes=5))
        await lead(app, "slack")
        [briefing] = await slack.wait_for("chat.postMessage", 1)
    finally:
        await app.scheduler.stop()
        app.outbound.unregister("slack")
        await channel.stop()
        for schedule in await app.memory.schedules.active(workspace=workspace):
            await app.memory.schedules.set_status(schedule.id, "cancelled", workspace=workspace)
    assert f"1. Hooli pays in advance [{fact.short_id}] (learned from what you said)" in briefing["text"]
    assert [b["value"] for b in briefing["blocks"][-1]["elements"]] == [
        f"mem:keep:{fact.short_id}",
        f"mem:forget:{fact.short_id}",
    ]
