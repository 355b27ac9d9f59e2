"""Garbage at the channel boundaries — webhook bodies, callback data, slash-command text — gets a
clear status and never an unhandled error."""

from __future__ import annotations

import json
import random
import string
import uuid
from urllib.parse import urlencode

import aiohttp

from bot.app import App
from bot.slack import SlackChannel
from bot.telegram import TelegramChannel
from tests.support.slack_server import SIGNING_SECRET, FakeSlack, command_body, post_signed
from tests.support.telegram_server import FakeTelegram


def _junk(rng: random.Random) -> object:
    kind = rng.randrange(6)
    if kind == 0:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 200)))
    if kind == 1:
        return {"update_id": rng.randrange(-5, 10**9), "message": {"text": "x" * rng.randrange(0, 5000)}}
    if kind == 2:
        return {"update_id": rng.randrange(10**9), "callback_query": {"id": "q", "data": "ap:" + "z" * 70}}
    if kind == 3:
        return [rng.random() for _ in range(rng.randrange(5))]
    if kind == 4:
        return {"update_id": "not a number"}
    return None


async def test_telegram_webhook_survives_garbage(app: App) -> None:
    server = FakeTelegram()
    await server.start()
    channel = TelegramChannel(app, token=server.token, api_url=server.url, allowed_users=frozenset({111}))
    await channel.start(webhook_url="https://bot.example.test/telegram", secret_token="fuzz-secret")
    url = f"http://127.0.0.1:{channel.webhook_port}/telegram"
    rng = random.Random(4)
    statuses = set()
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(60):
                body = (
                    json.dumps(_junk(rng)).encode()
                    if rng.random() < 0.8
                    else bytes(rng.randrange(256) for _ in range(50))
                )
                async with session.post(
                    url,
                    data=body,
                    headers={"X-Telegram-Bot-Api-Secret-Token": "fuzz-secret", "Content-Type": "application/json"},
                ) as r:
                    statuses.add(r.status)
            real = server.text_update("tasks")
            async with session.post(url, json=real, headers={"X-Telegram-Bot-Api-Secret-Token": "fuzz-secret"}) as r:
                assert r.status == 200
        await server.wait_for("sendMessage", 1)  # still answering after the garbage
    finally:
        await channel.stop()
        await server.stop()
    assert statuses <= {200, 400}


async def test_slack_endpoint_survives_garbage(app: App) -> None:
    server = FakeSlack()
    await server.start()
    channel = SlackChannel(
        app,
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret=SIGNING_SECRET,
        api_url=server.url,
        allowed=frozenset({"UOWNER"}),
    )
    await channel.start()
    rng = random.Random(5)
    statuses = set()
    try:
        for _ in range(40):
            junk = _junk(rng)
            body = rng.choice([json.dumps(junk), urlencode({"payload": json.dumps(junk)}), str(junk)])
            kind = rng.choice(["application/json", "application/x-www-form-urlencoded"])
            status, _ = await post_signed(channel.http_url, body, content_type=kind)
            statuses.add(status)
        status, _ = await post_signed(channel.http_url, command_body("tasks", user="UOWNER"))
        assert status == 200
        await server.wait_for("chat.postMessage", 1)
    finally:
        await channel.stop()
        await server.stop()
    assert 500 not in statuses and statuses <= {200, 400, 404}
