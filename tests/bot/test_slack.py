"""Slack end to end: slack-bolt's AsyncApp in HTTP mode, signed requests, a local Web API server."""

from __future__ import annotations

import hashlib
import json
import uuid

from bot.app import App
from bot.slack import SlackChannel
from tests.support.chat import scoped
from tests.support.models import Script, say
from tests.support.plan_models import objective
from tests.support.slack_server import (
    SIGNING_SECRET,
    FakeSlack,
    button_body,
    command_body,
    dm_event_body,
    post_signed,
)

OWNER = "UOWNER"
STRANGER = "USTRANGER"


async def _channel(app: App, server: FakeSlack, workspace: str) -> SlackChannel:
    channel = SlackChannel(
        scoped(app, workspace),
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret=SIGNING_SECRET,
        api_url=server.url,
        allowed=frozenset({OWNER}),
    )
    await channel.start()
    return channel


def _texts(calls: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [c["text"] for c in calls]


async def test_slash_command_remember_and_recall(app: App, slack: FakeSlack, workspace: str) -> None:
    channel = await _channel(app, slack, workspace)
    try:
        status, seconds = await post_signed(
            channel.http_url, command_body("remember that Acme pays net 30", user=OWNER)
        )
        assert status == 200 and seconds < 3  # acknowledged before the work
        await slack.wait_for("chat.postMessage", 1)
        await post_signed(channel.http_url, command_body("recall Acme", user=OWNER))
        posts = await slack.wait_for("chat.postMessage", 2)
    finally:
        await channel.stop()
    assert posts[0]["text"].startswith("Noted that: Acme pays net 30")
    assert "Acme pays net 30" in posts[1]["text"] and posts[1]["blocks"][0]["type"] == "section"


async def test_forged_signature_is_rejected_and_nothing_happens(app: App, slack: FakeSlack, workspace: str) -> None:
    channel = await _channel(app, slack, workspace)
    try:
        status, _ = await post_signed(
            channel.http_url, command_body("remember that I am the owner", user=OWNER), secret="not-the-secret"
        )
    finally:
        await channel.stop()
    assert status == 401
    assert slack.of("chat.postMessage") == [] and await app.memory.list(workspace) == []


async def test_retried_event_is_answered_once(app: App, slack: FakeSlack, workspace: str) -> None:
    channel = await _channel(app, slack, workspace)
    body = dm_event_body("add task call the bank", user=OWNER, event_id="Ev0RETRY1")
    try:
        assert (await post_signed(channel.http_url, body, content_type="application/json"))[0] == 200
        await slack.wait_for("chat.postMessage", 1)
        retry = await post_signed(
            channel.http_url,
            body,
            content_type="application/json",
            extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        )
        assert retry[0] == 200
        await post_signed(channel.http_url, command_body("tasks", user=OWNER))
        posts = await slack.wait_for("chat.postMessage", 2)
    finally:
        await channel.stop()
    assert (
        len(posts) == 2
        and posts[0]["text"].startswith("Added task #")
        and posts[1]["text"].startswith("Open tasks (1)")
    )
    assert len(await app.memory.records.list_tasks(workspace=workspace)) == 1


async def test_strangers_get_one_refusal(app: App, slack: FakeSlack, workspace: str) -> None:
    channel = await _channel(app, slack, workspace)
    try:
        await post_signed(channel.http_url, command_body("remember that I own this", user=STRANGER))
        await post_signed(channel.http_url, command_body("tasks", user=STRANGER))
        await post_signed(channel.http_url, command_body("tasks", user=OWNER))
        posts = await slack.wait_for("chat.postMessage", 2)
    finally:
        await channel.stop()
    assert sum("private assistant" in t for t in _texts(posts)) == 1
    assert await app.memory.list(workspace) == []


async def test_approval_buttons_and_429(with_model, slack: FakeSlack, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_coordinator import _drafting_script, _rows

    app = with_model(_drafting_script())
    slack.throttle_next_posts = 1
    channel = await _channel(app, slack, workspace)
    try:
        await post_signed(
            channel.http_url, command_body("draft a reminder email to Acme about invoice 42 and send it", user=OWNER)
        )
        posts = await slack.wait_for("chat.postMessage", 1, timeout=30)
        assert slack.of("throttled"), "the first post was answered with 429 and retried"
        blocks = posts[0]["blocks"]
        buttons = blocks[-1]["elements"]
        assert [b["text"]["text"] for b in buttons] == ["Approve", "Deny", "Details"]
        message = {"ts": "1700000000.000100", "text": posts[0]["text"], "blocks": blocks}
        await post_signed(channel.http_url, button_body(buttons[2]["value"], user=OWNER, message=message))  # Details
        details = (await slack.wait_for("chat.postMessage", 2))[1]
        await post_signed(channel.http_url, button_body(buttons[0]["value"], user=OWNER, message=message))
        await post_signed(channel.http_url, button_body(buttons[0]["value"], user=OWNER, message=message))
        updates = await slack.wait_for("chat.update", 2)
    finally:
        await channel.stop()
    # Details came as a new message with the buttons again; the pressed message was not touched by it
    assert [b["text"]["text"] for b in details["blocks"][-1]["elements"]] == ["Approve", "Deny", "Details"]
    assert len(updates) == 2
    # Bolt handles each click after acknowledging it, so the two may finish in either order.
    done = [u for u in updates if "Approved and done" in u["text"]]
    again = [u for u in updates if "Already decided" in u["text"]]
    assert len(done) == 1 and len(again) == 1
    assert f"decided by <@{OWNER}>" in done[0]["text"]
    assert all(b["type"] != "actions" for b in done[0]["blocks"])
    assert len(_rows(app, "SELECT * FROM outbox WHERE workspace = %s", workspace)) == 1


async def test_long_reply_is_split_into_sections(with_model, slack: FakeSlack, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(Script([say("word " * 1000 + "<script> & done")]))
    channel = await _channel(app, slack, workspace)
    try:
        await post_signed(channel.http_url, command_body("tell me a long story", user=OWNER))
        posts = await slack.wait_for("chat.postMessage", 1)
    finally:
        await channel.stop()
    sections = [b["text"]["text"] for b in posts[0]["blocks"] if b["type"] == "section"]
    assert len(sections) == 2 and all(len(s) <= 3000 for s in sections)
    assert "&lt;script&gt; &amp; done" in sections[-1]
    json.dumps(posts[0]["blocks"])  # what Slack receives is plain JSON


async def test_socket_mode_by_default(app: App, slack: FakeSlack, workspace: str) -> None:
    """With an app token the channel connects out over Socket Mode: no public URL, acks on the socket."""
    from urllib.parse import parse_qsl

    channel = SlackChannel(
        scoped(app, workspace),
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret="",
        api_url=slack.url,
        allowed=frozenset({OWNER}),
        app_token="xapp-test",
    )
    await channel.start()
    try:
        assert channel.http_url == ""  # nothing listens for Slack
        command = dict(parse_qsl(command_body("remember that Socket Mode works", user=OWNER)))
        envelope = await slack.send_envelope("slash_commands", command)
        posts = await slack.wait_for("chat.postMessage", 1)
    finally:
        await channel.stop()
    assert posts[0]["text"].startswith("Noted that: Socket Mode works")
    assert any(ack.get("envelope_id") == envelope for ack in slack.acks)


async def test_app_mention_in_a_channel(app: App, slack: FakeSlack, workspace: str) -> None:
    channel = await _channel(app, slack, workspace)
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": "T0SOLO",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": "Ev0MENTION",
            "event_time": 0,
            "event": {
                "type": "app_mention",
                "user": OWNER,
                "text": "<@UBOT> remember that mentions work",
                "channel": "C0TEAM",
                "ts": "1.000001",
            },
        }
    )
    try:
        assert (await post_signed(channel.http_url, body, content_type="application/json"))[0] == 200
        posts = await slack.wait_for("chat.postMessage", 1)
    finally:
        await channel.stop()
    assert posts[0]["channel"] == "C0TEAM" and posts[0]["text"].startswith("Noted that: mentions work")


async def test_a_scheduled_briefing_arrives_in_slack_with_its_chart(app: App, slack: FakeSlack, workspace: str) -> None:
    from datetime import timedelta

    from tests.bot.test_scheduler import backdate, daily, lead

    channel = await _channel(app, slack, workspace)
    app.outbound.register("slack", channel.send)
    try:
        await post_signed(channel.http_url, command_body("brief at 07:30", user=OWNER))
        [confirmed] = await slack.wait_for("chat.postMessage", 1)
        assert "every day at 07:30" in confirmed["text"]
        [set_in_chat] = await app.memory.schedules.active(workspace=workspace)
        assert set_in_chat.conversation == "slack:D0OWNER"
        due = await daily(
            app, workspace, kind="briefing", body="", conversation=set_in_chat.conversation, ago=timedelta(minutes=2)
        )
        await backdate(app, due.id, timedelta(minutes=5))
        await lead(app, "slack")
        posts = await slack.wait_for("chat.postMessage", 2)
        [completed] = await slack.wait_for("files.completeUploadExternal", 1)
    finally:
        await app.scheduler.stop()
        app.outbound.unregister("slack")
        await channel.stop()
        for schedule in await app.memory.schedules.active(workspace=workspace):
            await app.memory.schedules.set_status(schedule.id, "cancelled", workspace=workspace)
    assert posts[1]["text"].startswith("*Briefing for") and posts[1]["channel"] == "D0OWNER"
    assert completed["channel_id"] == "D0OWNER"
    [png] = slack.uploads.values()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_request_cut_off_by_a_crash_is_answered_after_the_restart(
    app: App, slack: FakeSlack, workspace: str
) -> None:
    """Slack does not resend what was acknowledged: the request is kept in the inbox until its reply
    is posted. This one was acknowledged, and then its process died."""
    from bot.slack import inbox_number

    token = f"xoxb-test-{uuid.uuid4().hex}"
    request = {
        "team": "T0SOLO",
        "user": OWNER,
        "channel": "D0OWNER",
        "text": "remember that Globex renews in May",
        "key": "slack:Ev-crashed",
    }
    inbox = hashlib.sha256(token.encode()).hexdigest()[:12]
    await app.memory.inbox.store("slack", inbox, [(inbox_number(request["key"]), request)])
    channel = SlackChannel(
        scoped(app, workspace),
        bot_token=token,
        signing_secret=SIGNING_SECRET,
        api_url=slack.url,
        allowed=frozenset({OWNER}),
    )
    await channel.start()
    try:
        [post] = await slack.wait_for("chat.postMessage", 1)
    finally:
        await channel.stop()
    assert post["text"].startswith("Noted that: Globex renews in May") and post["channel"] == "D0OWNER"
    assert await app.memory.inbox.pending("slack", inbox) == []
    assert [m.text for m in await app.memory.list(workspace)] == ["Globex renews in May"]


async def test_a_plan_is_drafted_and_approved_with_slack_buttons(with_model, slack: FakeSlack, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.test_plans import _retainer_script

    app = with_model(_retainer_script())
    channel = await _channel(app, slack, workspace)
    try:
        await post_signed(channel.http_url, command_body(f"/objective {objective()}", user=OWNER))
        [post] = await slack.wait_for("chat.postMessage", 1)
        buttons = post["blocks"][-1]["elements"]
        assert [b["text"]["text"] for b in buttons] == ["Approve plan", "Cancel"]
        assert "Research 20 agencies that fit" in post["text"]
        message = {"ts": "1700000000.000200", "text": post["text"], "blocks": post["blocks"]}
        await post_signed(channel.http_url, button_body(buttons[0]["value"], user=OWNER, message=message))
        [update] = await slack.wait_for("chat.update", 1)
    finally:
        await channel.stop()
    assert "approved" in update["text"]
    (plan,) = await app.memory.plans.all(workspace)
    assert plan.objective.status == "active" and plan.objective.conversation.startswith("slack:")
