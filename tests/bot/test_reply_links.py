"""Replies are not a leak channel: Telegram never previews and Slack never unfurls a link SoloOS sends.

A link a reply carries (``https://…/r?d=INV-1%20Acme%3A%201200.00``, made up by an injected e-mail)
would otherwise be fetched by Telegram's or Slack's servers the moment the message arrives. These run
the real client libraries against the local fake servers and read the HTTP requests they made.
"""

from __future__ import annotations

import html
import re
import uuid

import pytest

from bot.app import App
from bot.intent import Reply
from bot.slack import SlackChannel
from bot.telegram import TelegramChannel
from tests.support.chat import FakeChat, scoped
from tests.support.models import Script, say
from tests.support.slack_server import SIGNING_SECRET, FakeSlack, button_body, command_body, post_signed
from tests.support.telegram_server import FakeTelegram

LEAK = "https://collect.example/r?d=INV-1%20Acme%3A%201200.00"


def _no_preview(call: dict) -> bool:  # type: ignore[type-arg]
    return call.get("link_preview_options") == {"is_disabled": True}


async def test_telegram_sends_and_edits_without_link_previews(
    with_model, telegram: FakeTelegram, workspace: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_coordinator import _drafting_script

    app = with_model(Script([say(f"Your summary: see {LEAK}"), *_drafting_script().coordinator]))
    channel = TelegramChannel(
        scoped(app, workspace), token=telegram.token, api_url=telegram.url, allowed_users=frozenset({111})
    )
    await channel.start()
    try:
        telegram.push_text("summarize my inbox")
        telegram.push_text("draft a reminder email to Acme about invoice 42 and send it")
        sent = await telegram.wait_for("sendMessage", 2)
        telegram.push_text("hello", user_id=666)  # a stranger's refusal is a message too
        buttons = sent[1]["reply_markup"]["inline_keyboard"][0]
        plain = html.unescape(re.sub(r"<[^>]+>", "", sent[1]["text"]))
        message = {"message_id": 77, "date": 0, "chat": {"id": 111, "type": "private"}, "text": plain}
        telegram.push_callback(buttons[2]["callback_data"], message=message)  # Details: a new message
        telegram.push_callback(buttons[0]["callback_data"], message=message)  # Approve: an edit
        await telegram.wait_for("editMessageText", 1)
        sent = await telegram.wait_for("sendMessage", 4)
    finally:
        await channel.stop()
    assert LEAK in sent[0]["text"]
    assert any("private assistant" in m["text"] for m in sent)
    assert all(_no_preview(m) for m in telegram.calls("sendMessage")), telegram.calls("sendMessage")
    assert all(_no_preview(m) for m in telegram.calls("editMessageText"))


async def test_slack_posts_and_updates_without_unfurling(with_model, slack: FakeSlack, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_coordinator import _drafting_script

    app = with_model(Script([say(f"Your summary: see {LEAK}"), *_drafting_script().coordinator]))
    channel = SlackChannel(
        scoped(app, workspace),
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret=SIGNING_SECRET,
        api_url=slack.url,
        allowed=frozenset({"UOWNER"}),
    )
    await channel.start()
    try:
        await post_signed(channel.http_url, command_body("summarize my inbox", user="UOWNER"))
        await slack.wait_for("chat.postMessage", 1)
        await post_signed(
            channel.http_url, command_body("draft a reminder email to Acme about invoice 42 and send it", user="UOWNER")
        )
        posts = await slack.wait_for("chat.postMessage", 2)
        await post_signed(channel.http_url, command_body("hello", user="USTRANGER"))
        blocks = posts[1]["blocks"]
        approve = blocks[-1]["elements"][0]["value"]
        message = {"ts": "1700000000.000100", "text": posts[1]["text"], "blocks": blocks}
        await post_signed(channel.http_url, button_body(approve, user="UOWNER", message=message))
        await slack.wait_for("chat.update", 1)
        await slack.wait_for("chat.postMessage", 3)
    finally:
        await channel.stop()
    assert LEAK in posts[0]["text"]
    for call in slack.of("chat.postMessage") + slack.of("chat.update"):
        assert call.get("unfurl_links") is False and call.get("unfurl_media") is False, call


async def test_a_tainted_reply_shows_data_links_defanged_and_known_links_plain(
    app: App, workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher defangs, so every channel (console, Telegram, Slack) gets the same text."""
    await app.memory.records.upsert_contact("Acme", workspace=workspace, email="jane@acme.test")
    await app.memory.records.upsert_contact("Mallory", workspace=workspace, email="x@collect.example", source="email")
    answers = iter(
        [
            Reply(f"Summary: see {LEAK} and https://acme.test/invoices", tainted=True),
            Reply(f"Your own link: {LEAK}"),  # the operator's own turn, untainted: left alone
        ]
    )

    async def scripted(*_: object) -> Reply:
        return next(answers)

    monkeypatch.setattr(app.dispatcher, "_answer", scripted)
    chat = FakeChat(app, workspace)
    tainted = await chat.say("summarize my inbox")
    assert "hxxps://collect[.]example/r?d=INV-1%20Acme%3A%201200[.]00" in tainted
    assert "https://acme.test/invoices" in tainted  # a known contact's domain, no query
    assert LEAK not in tainted
    assert LEAK in await chat.say("what did I paste?")
    turns = await app.memory.conversations.recent(workspace=workspace, conversation=f"test:{chat.session}")
    assert all(LEAK not in t.text for t in turns[:2])  # what is stored is what was shown
