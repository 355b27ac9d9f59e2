"""Slack loses nothing either (issue #15): a reply whose action was done arrives after the Web API
fails for a while, and a press whose message cannot be updated gets its outcome in the thread."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.app import App
from bot.slack import SlackChannel
from tests.support.chat import scoped
from tests.support.slack_server import SIGNING_SECRET, FakeSlack, button_body, command_body, post_signed

OWNER = "UOWNER"


class FailingSlack(FakeSlack):
    """The local Web API, with chat.postMessage down for a while and messages that cannot be updated."""

    down_until: float = 0.0
    gone: frozenset[str] = frozenset()  # ts of messages chat.update cannot find

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "chat.postMessage" and time.monotonic() < self.down_until:
            self.calls.append({"method": "failed:chat.postMessage"})
            return web.json_response({"ok": False, "error": "fatal_error"}, status=503)
        if method == "chat.update":
            params = dict(await request.json()) if request.content_type == "application/json" else {}
            if params.get("ts") in self.gone:
                self.calls.append({"method": "failed:chat.update"})
                return web.json_response({"ok": False, "error": "message_not_found"})
        return await super()._handle(request)


@pytest.fixture
async def slack() -> AsyncIterator[FailingSlack]:
    server = FailingSlack()
    await server.start()
    yield server
    await server.stop()


async def _channel(app: App, server: FakeSlack, workspace: str) -> SlackChannel:
    channel = SlackChannel(
        scoped(app, workspace),
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret=SIGNING_SECRET,
        api_url=server.url,
        allowed=frozenset({OWNER}),
    )
    channel.sender.backoff = (0.2, 0.4, 0.8)
    channel.sender.poll = 0.1
    await channel.start()
    return channel


async def test_a_reply_arrives_after_the_web_api_was_down(app: App, slack: FailingSlack, workspace: str) -> None:
    channel = await _channel(app, slack, workspace)
    try:
        slack.down_until = time.monotonic() + 4.0
        await post_signed(channel.http_url, command_body("remember that Acme pays net 30", user=OWNER))
        [post] = await slack.wait_for("chat.postMessage", 1, timeout=30)
    finally:
        await channel.stop()
    assert slack.of("failed:chat.postMessage"), "it was tried while Slack was down"
    assert post["text"].startswith("Noted that: Acme pays net 30")
    assert [m.text for m in await app.memory.list(workspace)] == ["Acme pays net 30"]


async def test_a_press_whose_message_cannot_be_updated_is_answered_in_its_thread(
    with_model, slack: FailingSlack, workspace: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_coordinator import _drafting_script, _rows

    app = with_model(_drafting_script())
    channel = await _channel(app, slack, workspace)
    try:
        await post_signed(
            channel.http_url, command_body("draft a reminder email to Acme about invoice 42 and send it", user=OWNER)
        )
        [shown] = await slack.wait_for("chat.postMessage", 1, timeout=30)
        approve = shown["blocks"][-1]["elements"][0]["value"]
        message = {"ts": "1700000000.000100", "text": shown["text"], "blocks": shown["blocks"]}
        slack.gone = frozenset({message["ts"]})
        await post_signed(channel.http_url, button_body(approve, user=OWNER, message=message))
        posts = await slack.wait_for("chat.postMessage", 2)
    finally:
        await channel.stop()
    assert slack.of("failed:chat.update")
    outcome = posts[1]
    assert "Approved and done" in outcome["text"] and f"decided by <@{OWNER}>" in outcome["text"]
    assert outcome["thread_ts"] == message["ts"]
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1  # the e-mail, once
