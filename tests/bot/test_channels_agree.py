"""The same conversation gives the same answers on the console, Telegram and Slack."""

from __future__ import annotations

import re
import uuid

from bot.app import App
from bot.slack import SlackChannel
from bot.telegram import TelegramChannel
from tests.support.chat import FakeChat, scoped
from tests.support.slack_server import SIGNING_SECRET, FakeSlack, command_body, post_signed
from tests.support.telegram_server import FakeTelegram

CONVERSATION = [
    "remember that Acme pays net 30",
    "add task send Acme the invoice",
    "what do you know about Acme?",
    "tasks",
]


def _normal(text: str) -> str:
    """Ids differ between workspaces; everything else must match."""
    return re.sub(r"#\d+", "#N", re.sub(r"\[[0-9a-f]{8}\]", "[id]", text))


async def test_console_telegram_and_slack_agree(app: App) -> None:
    console_app = scoped(app)
    chat = FakeChat(console_app, console_app.settings.workspace)
    console = [_normal(await chat.say(line)) for line in CONVERSATION]

    telegram = FakeTelegram()
    await telegram.start()
    channel = TelegramChannel(scoped(app), token=telegram.token, api_url=telegram.url, allowed_users=frozenset({111}))
    await channel.start()
    try:
        for number, line in enumerate(CONVERSATION, start=1):
            telegram.push_text(line)
            await telegram.wait_for("sendMessage", number)
        via_telegram = [_normal(m["text"]) for m in telegram.calls("sendMessage")]
    finally:
        await channel.stop()
        await telegram.stop()

    slack = FakeSlack()
    await slack.start()
    slack_channel = SlackChannel(
        scoped(app),
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret=SIGNING_SECRET,
        api_url=slack.url,
        allowed=frozenset({"UOWNER"}),
    )
    await slack_channel.start()
    try:
        for number, line in enumerate(CONVERSATION, start=1):
            await post_signed(slack_channel.http_url, command_body(line, user="UOWNER"))
            await slack.wait_for("chat.postMessage", number)
        via_slack = [_normal(m["text"]) for m in slack.of("chat.postMessage")]
    finally:
        await slack_channel.stop()
        await slack.stop()

    assert via_telegram == console  # Telegram renders HTML, but this text has nothing to escape
    assert via_slack == console
