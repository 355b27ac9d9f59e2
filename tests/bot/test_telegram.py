"""Telegram end to end: python-telegram-bot against a local Bot API server over real HTTP."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta

from bot.app import App
from bot.chat_text import split_text
from bot.outbound import Outbound
from bot.telegram import TelegramChannel, to_html
from tests.support.chat import scoped
from tests.support.models import Script, say
from tests.support.plan_models import objective
from tests.support.telegram_server import FakeTelegram

OWNER = 111
STRANGER = 666


async def _channel(app: App, server: FakeTelegram, workspace: str) -> TelegramChannel:
    channel = TelegramChannel(
        scoped(app, workspace), token=server.token, api_url=server.url, allowed_users=frozenset({OWNER})
    )
    await channel.start()
    return channel


async def test_remember_and_recall_through_telegram(app: App, telegram: FakeTelegram, workspace: str) -> None:
    channel = await _channel(app, telegram, workspace)
    try:
        telegram.push_text("remember that Acme pays net 30")
        await telegram.wait_for("sendMessage", 1)
        telegram.push_text("/recall@soloos_test_bot Acme")
        sent = await telegram.wait_for("sendMessage", 2)
    finally:
        await channel.stop()
    assert sent[0]["text"].startswith("Noted that: Acme pays net 30")
    assert "Acme pays net 30" in sent[1]["text"] and sent[1]["parse_mode"] == "HTML"
    assert [m.text for m in await app.memory.list(workspace)] == ["Acme pays net 30"]


async def test_strangers_get_one_refusal_and_nothing_is_stored(
    app: App, telegram: FakeTelegram, workspace: str
) -> None:
    channel = await _channel(app, telegram, workspace)
    try:
        telegram.push_text("remember that I own this bot now", user_id=STRANGER)
        telegram.push_text("add task wire me money", user_id=STRANGER)
        telegram.push_text("tasks")  # the owner, after them
        sent = await telegram.wait_for("sendMessage", 2)
    finally:
        await channel.stop()
    to_stranger = [m for m in sent if int(m["chat_id"]) == STRANGER]
    assert len(to_stranger) == 1 and "private assistant" in to_stranger[0]["text"]
    assert await app.memory.list(workspace) == []
    assert await app.memory.records.list_tasks(workspace=workspace) == []


async def test_redelivered_update_is_answered_once(app: App, telegram: FakeTelegram, workspace: str) -> None:
    channel = await _channel(app, telegram, workspace)
    try:
        update_id = telegram.push_text("add task call the bank")
        telegram.push_text("add task call the bank", update_id=update_id)  # same update again
        telegram.push_text("tasks")
        await telegram.wait_for("sendMessage", 2)
        await asyncio.sleep(0.5)  # time for a wrong second reply to the duplicate to show up
        sent = telegram.calls("sendMessage")
    finally:
        await channel.stop()
    assert len(telegram.calls("sendMessage")) == 2  # the duplicate got no second reply
    assert sent[0]["text"].startswith("Added task #") and sent[1]["text"].startswith("Open tasks (1)")
    assert len(await app.memory.records.list_tasks(workspace=workspace)) == 1


async def test_long_work_long_replies_and_429(with_model, telegram: FakeTelegram, workspace: str) -> None:  # type: ignore[no-untyped-def]
    import time as clock

    def slow_story(messages):  # type: ignore[no-untyped-def]
        clock.sleep(1.2)  # a slow model: the operator should see "typing…"
        return say("word " * 1000 + "<b>not html</b> & done")(messages)  # 5,025 characters

    app = with_model(Script([slow_story]))
    telegram.throttle_next_sends = 1
    channel = await _channel(app, telegram, workspace)
    try:
        telegram.push_text("tell me a long story")
        sent = await telegram.wait_for("sendMessage", 2)
    finally:
        await channel.stop()
    assert telegram.calls("throttled"), "the first send was answered with 429"
    assert telegram.calls("sendChatAction"), "typing… was shown during the slow turn"
    assert all(len(m["text"]) <= 4096 for m in sent)
    assert "&lt;b&gt;not html&lt;/b&gt; &amp; done" in sent[-1]["text"]


async def test_approval_buttons_end_to_end(with_model, telegram: FakeTelegram, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_coordinator import _drafting_script, _rows

    app = with_model(_drafting_script())
    channel = await _channel(app, telegram, workspace)
    try:
        telegram.push_text("draft a reminder email to Acme about invoice 42 and send it")
        sent = await telegram.wait_for("sendMessage", 1)
        buttons = sent[0]["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Approve", "Deny", "Details"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
        plain = html.unescape(re.sub(r"<[^>]+>", "", sent[0]["text"]))  # what the client shows and sends back
        message = {"message_id": 77, "date": 0, "chat": {"id": OWNER, "type": "private"}, "text": plain}
        telegram.push_callback(buttons[2]["callback_data"], message=message)  # Details: a new message
        details = (await telegram.wait_for("sendMessage", 2))[1]
        telegram.push_callback(buttons[0]["callback_data"], message=message)
        telegram.push_callback(buttons[0]["callback_data"], message=message)  # double click
        edits = await telegram.wait_for("editMessageText", 2)
        answered = await telegram.wait_for("answerCallbackQuery", 3)
    finally:
        await channel.stop()
    assert len(answered) == 3
    assert [b["text"] for b in details["reply_markup"]["inline_keyboard"][0]] == ["Approve", "Deny", "Details"]
    assert len(edits) == 2  # the Details press left the pressed message and its buttons alone
    # The clicks are answered at once and may then finish in either order.
    done = [e for e in edits if "Approved and done" in e["text"]]
    again = [e for e in edits if "Already decided" in e["text"]]
    assert len(done) == 1 and len(again) == 1 and "decided by Sam" in done[0]["text"]
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1


def test_rendering_escapes_html_and_keeps_bold() -> None:
    assert to_html("*Pay* <Acme> & co") == "<b>Pay</b> &lt;Acme&gt; &amp; co"
    text = "First paragraph.\n\n" + "word " * 1200
    chunks = list(split_text(text))
    assert len(chunks) == 2 and all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks).split() == text.split()  # cut between words, nothing lost
    assert list(split_text("x" * 5000)) == ["x" * 4096, "x" * 904]  # no boundary: a hard cut


async def test_soloos_run_serves_telegram_and_slack_in_one_process(telegram: FakeTelegram, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One `soloos run`, both channels, one memory: what is said on Telegram is known on Slack."""
    import asyncio
    import signal
    from urllib.parse import parse_qsl

    from tests.support.processes import SOLOOS, env_for
    from tests.support.slack_server import FakeSlack, command_body

    slack = FakeSlack()
    await slack.start()
    env = env_for(
        tmp_path,
        SOLOOS_TELEGRAM_TOKEN=telegram.token,
        SOLOOS_TELEGRAM_API_URL=telegram.url,
        SOLOOS_TELEGRAM_ALLOWED_USERS=str(OWNER),
        SOLOOS_SLACK_BOT_TOKEN="xoxb-test",
        SOLOOS_SLACK_APP_TOKEN="xapp-test",
        SOLOOS_SLACK_API_URL=slack.url,
        SOLOOS_SLACK_ALLOWED_USERS="UOWNER",
    )
    proc = await asyncio.create_subprocess_exec(SOLOOS, "run", env=env, stderr=asyncio.subprocess.PIPE)
    try:
        telegram.push_text("remember that the run command works")
        sent = await telegram.wait_for("sendMessage", 1, timeout=60)
        assert sent[0]["text"].startswith("Noted that: the run command works")
        await slack.send_envelope("slash_commands", dict(parse_qsl(command_body("recall run command", user="UOWNER"))))
        posts = await slack.wait_for("chat.postMessage", 1, timeout=30)
        assert "the run command works" in posts[0]["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        await slack.stop()
    assert proc.returncode == 0, stderr.decode()
    assert b"serving Telegram (polling) and Slack (Socket Mode)" in stderr and b"stopped" in stderr


def test_soloos_run_with_nothing_configured_says_how() -> None:
    from typer.testing import CliRunner

    from bot.cli import app as cli

    result = CliRunner().invoke(cli, ["run"], env={"SOLOOS_TELEGRAM_TOKEN": ""})
    assert result.exit_code == 1
    assert "SOLOOS_TELEGRAM_TOKEN" in result.stderr and "soloos chat" in result.stderr


async def test_webhook_mode_checks_the_secret_token(app: App, telegram: FakeTelegram, workspace: str) -> None:
    import aiohttp

    channel = TelegramChannel(
        scoped(app, workspace), token=telegram.token, api_url=telegram.url, allowed_users=frozenset({OWNER})
    )
    await channel.start(webhook_url="https://bot.example.test/telegram", secret_token="s3cret-token")
    url = f"http://127.0.0.1:{channel.webhook_port}/telegram"
    try:
        hooks = telegram.calls("setWebhook")
        assert hooks and hooks[0]["secret_token"] == "s3cret-token"
        async with aiohttp.ClientSession() as session:
            forged = telegram.text_update("remember that the attacker owns this")
            async with session.post(url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}) as r:
                assert r.status == 403
            async with session.post(url, json=forged) as r:
                assert r.status == 403
            real = telegram.text_update("remember that webhooks work")
            async with session.post(url, json=real, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}) as r:
                assert r.status == 200
        sent = await telegram.wait_for("sendMessage", 1)
    finally:
        await channel.stop()
    assert sent[0]["text"].startswith("Noted that: webhooks work")
    assert [m.text for m in await app.memory.list(workspace)] == ["webhooks work"]


async def test_a_briefing_and_a_reminder_arrive_through_telegram_and_snooze_from_the_button(
    app: App, telegram: FakeTelegram, workspace: str
) -> None:
    from tests.bot.test_scheduler import backdate, daily, lead, until

    channel = await _channel(app, telegram, workspace)
    app.outbound.register("telegram", channel.send)
    try:
        telegram.push_text("/brief at 07:30")
        [confirmed] = await telegram.wait_for("sendMessage", 1)
        assert "every day at 07:30 (Europe/Berlin)" in confirmed["text"]
        [set_in_chat] = await app.memory.schedules.active(workspace=workspace)
        assert set_in_chat.conversation == f"telegram:{OWNER}"
        due = await daily(  # the same, with a time that came two minutes ago
            app, workspace, kind="briefing", body="", conversation=set_in_chat.conversation, ago=timedelta(minutes=2)
        )
        await backdate(app, due.id, timedelta(minutes=5))
        telegram.push_text("remind me in 2 seconds to call Acme")
        await telegram.wait_for("sendMessage", 2)
        await lead(app, "telegram")
        sent = await telegram.wait_for("sendMessage", 4)
        [photo] = await telegram.wait_for("sendPhoto", 1)
        texts = [m["text"] for m in sent[2:]]
        brief = next(t for t in texts if "Briefing for" in t)
        assert "<b>Briefing for" in brief and "Tasks: 0 open" in brief
        assert photo["photo"][:8] == b"\x89PNG\r\n\x1a\n" and int(photo["chat_id"]) == OWNER
        fired = next(m for m in sent[2:] if "Reminder: call Acme" in m["text"])
        buttons = fired["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Snooze 1h", "Tomorrow"]
        message = {"message_id": 91, "date": 0, "chat": {"id": OWNER, "type": "private"}, "text": "⏰ Reminder"}
        telegram.push_callback(buttons[0]["callback_data"], message=message)
        [edit] = await telegram.wait_for("editMessageText", 1)
        assert "Snoozed: I'll remind you again" in edit["text"]
        await until(lambda: len(telegram.calls("sendMessage")) == 4)
    finally:
        await app.scheduler.stop()
        app.outbound.unregister("telegram")
        await channel.stop()
        for schedule in await app.memory.schedules.active(workspace=workspace):
            await app.memory.schedules.set_status(schedule.id, "cancelled", workspace=workspace)


async def test_a_reminder_telegram_refuses_is_retried_and_then_arrives(
    app: App, telegram: FakeTelegram, workspace: str
) -> None:
    from tests.bot.test_scheduler import GRACE, Clock, deliveries, reminder

    channel = await _channel(app, telegram, workspace)
    outbound = Outbound()
    outbound.register("telegram", channel.send)
    due = datetime.now(UTC) + timedelta(days=1)
    clock = Clock(due)
    service = deliveries(app, outbound, clock)
    try:
        schedule = await reminder(app, workspace, "call the bank", fire_at=due, conversation=f"telegram:{OWNER}")
        telegram.fail_next_sends = 1
        assert await service.fire(schedule.id, due, grace=GRACE) == "retrying"
        [log] = await app.memory.schedules.deliveries(workspace=workspace)
        assert log.delivery_status == "retrying" and "Chat not found" in (log.last_error or "")
        clock.advance(timedelta(seconds=31))
        assert await service.retry_due("telegram") == 1
    finally:
        await channel.stop()
    [delivered] = telegram.calls("sendMessage")
    assert delivered["text"] == "⏰ Reminder: call the bank"
    [log] = await app.memory.schedules.deliveries(workspace=workspace)
    assert (log.delivery_status, log.attempts) == ("sent", 2)


async def test_an_update_fetched_by_a_process_that_died_is_answered_after_the_restart(
    app: App, telegram: FakeTelegram, workspace: str
) -> None:
    """What bench/crash.py found: updates were acknowledged to Telegram before they were handled,
    so a kill -9 lost them. Now they are stored first; this one was stored, acknowledged, and then
    its process died before handling it."""
    orphan = telegram.text_update("remember that the Hooli contract ends in June")
    bot_id = telegram.token.split(":", 1)[0]
    await app.memory.inbox.store("telegram", bot_id, [(orphan["update_id"], orphan)])
    channel = await _channel(app, telegram, workspace)
    try:
        [reply] = await telegram.wait_for("sendMessage", 1)
    finally:
        await channel.stop()
    assert reply["text"].startswith("Noted that: the Hooli contract ends in June")
    assert await app.memory.inbox.pending("telegram", bot_id) == []  # handled, so not replayed again
    assert [m.text for m in await app.memory.list(workspace)] == ["the Hooli contract ends in June"]


async def test_a_plan_is_approved_with_its_button_and_reports_through_telegram(
    with_model, telegram: FakeTelegram, workspace: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_plans import TZ, _executor, _retainer_script
    from tests.bot.test_scheduler import lead, until

    script = _retainer_script(Research=["Agencies: Northwind, Globex."])
    app = with_model(script)
    channel = await _channel(app, telegram, workspace)
    app.outbound.register("telegram", channel.send)
    try:
        telegram.push_text(f"/objective {objective()}")
        [drafted] = await telegram.wait_for("sendMessage", 1)
        buttons = drafted["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Approve plan", "Cancel"]
        assert "<b>Plan #" in drafted["text"] and "Research 20 agencies that fit" in drafted["text"]
        message = {"message_id": 5, "date": 0, "chat": {"id": OWNER, "type": "private"}, "text": "Plan"}
        telegram.push_callback(buttons[0]["callback_data"], message=message)
        [approved] = await telegram.wait_for("editMessageText", 1)
        assert "approved" in approved["text"]

        await _executor(app, script, batch=1).tick(workspace, timezone=TZ)  # the research step reports
        await lead(app, "telegram")
        await until(lambda: any("✓ Research" in m["text"] for m in telegram.calls("sendMessage")))
    finally:
        await app.scheduler.stop()
        app.outbound.unregister("telegram")
        await channel.stop()
    report = next(m for m in telegram.calls("sendMessage") if "✓ Research" in m["text"])
    assert int(report["chat_id"]) == OWNER and "Northwind, Globex" in report["text"]
    (plan,) = await app.memory.plans.all(workspace)
    assert plan.objective.conversation == f"telegram:{OWNER}" and plan.objective.status == "active"
