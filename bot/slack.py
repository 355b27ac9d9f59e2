"""The Slack channel (slack-bolt ``AsyncApp``): Socket Mode by default, HTTP mode with request
signature verification as the option.

It only translates: a slash command (``/soloos …``), a DM or an app mention becomes an ``Intent``
(idempotency key = the event id or the command's trigger id, so Slack's retries are handled once);
a ``Reply`` becomes Block Kit sections (mrkdwn, split at 3,000 characters) with buttons. Every
request is acknowledged at once and the work happens after. Users not on the allowlist get one
polite refusal and nothing is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from agents.commands import slack_subcommands
from bot.app import App
from bot.chat_text import REFUSAL, split_text
from bot.intent import Intent, Reply

log = logging.getLogger(__name__)

SECTION_LIMIT = 3000
ACTION_PREFIX = "soloos:"
# Slack fetches and expands the links a message carries unless told not to; a link a reply carries
# (e.g. one an injected e-mail made up, with data in its query) would leak. Every post and update.
NO_UNFURL: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}


def inbox_number(key: str) -> int:
    """A stable 63-bit number for a Slack request key (the inbox is keyed by numbers)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


def to_mrkdwn(text: str) -> str:
    """Slack escapes only &, < and >; our *bold* is already Slack's."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(reply: Reply) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": to_mrkdwn(chunk)}}
        for chunk in split_text(reply.text, SECTION_LIMIT)
    ]
    if reply.buttons:
        result.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": b.label},
                        "action_id": f"{ACTION_PREFIX}{n}",
                        "value": b.action,
                        **({"style": "primary"} if b.label == "Approve" else {}),
                    }
                    for n, b in enumerate(reply.buttons)
                ],
            }
        )
    return result


def _messages(reply: Reply) -> Iterator[list[dict[str, Any]]]:
    """Slack allows 50 blocks per message; one message per 45 sections is plenty."""
    all_blocks = blocks(reply)
    for start in range(0, len(all_blocks), 45):
        yield all_blocks[start : start + 45]


class SlackChannel:
    def __init__(
        self,
        app: App,
        *,
        bot_token: str,
        signing_secret: str,
        api_url: str,
        allowed: frozenset[str],
        app_token: str | None = None,
    ) -> None:
        self.app = app
        self.allowed = allowed  # "U123" or "T123:U123"
        self.app_token = app_token
        self._refused: set[str] = set()
        client = AsyncWebClient(token=bot_token, base_url=f"{api_url.rstrip('/')}/api/")
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))  # honours Retry-After
        self.bolt = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
        self.bolt.command("/soloos")(self._on_command)
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_button)
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        self.http_url = ""
        self._inbox = hashlib.sha256(bot_token.encode()).hexdigest()[:12]  # this app's inbox, not its token

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, http_host: str = "127.0.0.1", http_port: int = 0) -> None:
        """Socket Mode when an app token is configured, else an HTTP endpoint for Slack's requests."""
        await self._replay()
        if self.app_token:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.bolt, self.app_token)
            await self._socket.connect_async()
            return
        server = web.Application(client_max_size=1 << 20)
        server.router.add_post("/slack/events", self._on_http)
        self._runner = web.AppRunner(server)
        await self._runner.setup()
        site = web.TCPSite(self._runner, http_host, http_port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.http_url = f"http://{http_host}:{port}/slack/events"

    async def _on_http(self, request: web.Request) -> web.Response:
        """Slack's requests in HTTP mode. Bolt verifies the signature (401 when wrong); a body it
        cannot parse is answered 400 instead of an internal error."""
        try:
            response = await self.bolt.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)
        except Exception as err:  # the boundary: Bolt raises assorted errors on malformed bodies
            log.warning("refused a malformed slack request: %s", err)
            return web.Response(status=400, text="malformed request")

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- translation --------------------------------------------------------------------------

    def _is_allowed(self, team: str | None, user: str | None) -> bool:
        return bool(user) and (user in self.allowed or f"{team}:{user}" in self.allowed)

    async def _refuse(self, channel: str, user: str | None) -> None:
        if user and user not in self._refused:
            self._refused.add(user)
            await self.bolt.client.chat_postMessage(channel=channel, text=REFUSAL, **NO_UNFURL)
        log.warning("refused slack user %s", user)

    async def _ask(
        self,
        *,
        team: str | None,
        user: str | None,
        channel: str,
        text: str,
        key: str,
        replayed: bool = False,
        pressed: bool = False,
    ) -> Reply | None:
        """Allowlist, then the dispatcher. None when there is nothing to post (refused, or a retry).
        A replayed request (its process died) gets its stored reply again: it may never have gone out."""
        if not self._is_allowed(team, user):
            await self._refuse(channel, user)
            return None
        settings = self.app.settings
        reply = await self.app.dispatcher.handle(
            Intent(
                workspace=settings.workspace,
                operator=settings.operator,
                channel="slack",
                channel_user=f"{team}:{user}",
                conversation=f"slack:{channel}",
                text=text,
                idempotency_key=key,
                pressed=pressed,
            )
        )
        return None if reply.duplicate and not replayed else reply  # a retry was answered the first time

    async def send(self, target: str, reply: Reply) -> None:
        """A message SoloOS starts (a reminder, the briefing), then its chart if it has one. A failed
        text send raises, so the delivery log retries; a failed chart after the text arrived is only
        logged, so the retry never repeats a message the operator already has."""
        await self._post(target, reply)
        if reply.image_png is not None:
            try:
                await self.bolt.client.files_upload_v2(
                    channel=target, content=reply.image_png, filename="soloos-chart.png", title="Last 14 days"
                )
            except Exception as err:  # slack-sdk raises several kinds; the message itself has arrived
                log.warning("the chart for %s could not be uploaded: %s", target, err)

    async def _post(self, channel: str, reply: Reply) -> None:
        for message_blocks in _messages(reply):
            await self.bolt.client.chat_postMessage(
                channel=channel, text=reply.text[:SECTION_LIMIT], blocks=message_blocks, **NO_UNFURL
            )

    async def _dispatch(
        self,
        *,
        team: str | None,
        user: str | None,
        channel: str,
        text: str,
        key: str,
        replayed: bool = False,
        pressed: bool = False,
    ) -> None:
        """Slack does not resend what was acknowledged, so the request is stored first and marked
        done after its reply is posted; one cut off by a crash is replayed at the next start."""
        request: dict[str, Any] = {"team": team, "user": user, "channel": channel, "text": text, "key": key}
        request["pressed"] = pressed
        async with self._stored(request):
            reply = await self._ask(**request, replayed=replayed)
            if reply is not None:
                await self._post(channel, reply)

    @contextlib.asynccontextmanager
    async def _stored(self, request: dict[str, Any]) -> AsyncIterator[None]:
        """In the inbox while it is handled; left there only by a crash (then ``_replay`` finds it)."""
        number = inbox_number(request["key"])
        await self.app.memory.inbox.store("slack", self._inbox, [(number, request)])
        try:
            yield
        finally:
            await self.app.memory.inbox.done("slack", self._inbox, number)

    async def _replay(self) -> None:
        for request in await self.app.memory.inbox.pending("slack", self._inbox):
            log.info("handling a slack request left by a previous run: %s", request.get("key"))
            await self._dispatch(**request, replayed=True)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # within Slack's 3 seconds; the work follows
        text = (body.get("text") or "").strip() or "help"
        if not text.startswith("/") and text.split()[0] in slack_subcommands():
            text = "/" + text  # "/soloos tasks" is /tasks; the registry says which words are commands
        await self._dispatch(
            team=body.get("team_id"),
            user=body.get("user_id"),
            channel=body["channel_id"],
            text=text,
            key=f"slack:cmd:{body.get('trigger_id')}",
        )

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("bot_id") or event.get("subtype") or event.get("channel_type") != "im":
            return  # only people's direct messages; the bot's own posts and edits are not requests
        await self._dispatch(
            team=body.get("team_id"),
            user=event.get("user"),
            channel=event["channel"],
            text=event.get("text", ""),
            key=f"slack:{body.get('event_id')}",
        )

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        text = re.sub(r"^<@[A-Z0-9]+>\s*", "", event.get("text", ""))
        await self._dispatch(
            team=body.get("team_id"),
            user=event.get("user"),
            channel=event["channel"],
            text=text,
            key=f"slack:{body.get('event_id')}",
        )

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body.get("user", {}).get("id")
        team = body.get("team", {}).get("id") if body.get("team") else None
        channel = body.get("channel", {}).get("id") or body.get("container", {}).get("channel_id")
        key = f"slack:act:{body.get('trigger_id') or action.get('action_ts')}"
        value = action.get("value", "")
        request: dict[str, Any] = {"team": team, "user": user, "channel": channel, "text": value, "key": key}
        request["pressed"] = True
        async with self._stored(request):  # (a press cut off by a crash is replayed as a press)
            reply = await self._ask(**request)
            if reply is None:
                return
            message = body.get("message") or {}
            if reply.on_press == "post" or not message.get("ts"):  # e.g. Details: a new message
                await self._post(channel, reply)
                return
            outcome = f"{to_mrkdwn(reply.text)[: SECTION_LIMIT - 40]} (decided by <@{user}>)"
            kept = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
            kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]})
            await self.bolt.client.chat_update(
                channel=channel, ts=message["ts"], text=outcome, blocks=kept, **NO_UNFURL
            )
