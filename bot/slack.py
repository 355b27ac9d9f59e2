"""The Slack channel (slack-bolt ``AsyncApp``): Socket Mode by default, HTTP mode with request
signature verification as the option.

It only translates: a slash command (``/soloos …``), a DM or an app mention becomes an ``Intent``
(idempotency key = the event id or the command's trigger id, so Slack's retries are handled once);
a ``Reply`` becomes Block Kit sections (mrkdwn, split at 3,000 characters) with buttons. Every
request is acknowledged at once and the work happens after. Users not on the allowlist get one
polite refusal and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from agents.commands import slack_subcommands
from bot.app import App
from bot.background import cancel_all, sweep_forever
from bot.chat_text import REFUSAL, split_text
from bot.intent import Intent, Reply
from bot.interim import interim
from bot.reply_sender import Progress, Refused, ReplySender, RetryAfter
from memory import DatabaseUnavailable

log = logging.getLogger(__name__)

SECTION_LIMIT = 3000
ACTION_PREFIX = "soloos:"
# Slack fetches and expands the links a message carries unless told not to; a link a reply carries
# (e.g. one an injected e-mail made up, with data in its query) would leak. Every post and update.
NO_UNFURL: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}
SWEEP_SECONDS = 30.0  # stored requests not handled after this long are dispatched again
# Slack errors that will not change on a retry: the reply is given up after a few tries
REFUSALS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "account_inactive", "invalid_blocks"})


def inbox_number(key: str) -> int:
    """A stable 63-bit number for a Slack request key (the inbox is keyed by numbers)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


@dataclasses.dataclass(frozen=True)
class SlackRequest:
    """One request from Slack as the inbox stores it (a command, a message, a mention, a press)."""

    team: str | None
    user: str | None
    channel: str
    text: str
    key: str  # the event id or the command's trigger id: Slack's retries are handled once
    pressed: bool = False
    press: dict[str, Any] | None = None  # the pressed message (ts, blocks) and who pressed

    @property
    def number(self) -> int:
        return inbox_number(self.key)


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
        sweep_seconds: float = SWEEP_SECONDS,
        interim_after: float | None = None,
    ) -> None:
        """``interim_after``: seconds of a turn before a "Working on it…" message shows (default: the
        ``slack_interim_seconds`` setting)."""
        self.app = app
        self.allowed = allowed  # "U123" or "T123:U123"
        self.interim_after = app.settings.slack_interim_seconds if interim_after is None else interim_after
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
        self.sweep_seconds = sweep_seconds
        self.sender = ReplySender(
            app.memory.replies,
            "slack",
            self,
            workspace=app.settings.workspace,
            worker=app.memory.conversations.worker,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._working: set[int] = set()  # inbox numbers of requests being handled in this process

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, http_host: str = "127.0.0.1", http_port: int = 0) -> None:
        """Socket Mode when an app token is configured, else an HTTP endpoint for Slack's requests."""
        self._tasks.append(asyncio.create_task(self.sender.run(), name="slack-replies"))
        self._tasks.append(
            asyncio.create_task(sweep_forever(self._sweep, self.sweep_seconds, "slack inbox"), name="slack-sweep")
        )
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
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)
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

    async def _ask(self, request: SlackRequest) -> None:
        """Allowlist, then the dispatcher, whose reply is queued in the channel outbox with the
        handled message (and the inbox row closed); then this conversation's outbox is delivered.
        A request handled again after a crash is a duplicate the dispatcher recognises: what it owed
        is still in the outbox, and goes out now. A turn longer than ``interim_after`` shows an interim
        message with its progress until the reply is out (``bot.interim``)."""
        team, user, channel, number = request.team, request.user, request.channel, request.number
        if not self._is_allowed(team, user):
            await self._refuse(channel, user)
            await self.app.memory.inbox.done("slack", self._inbox, number)
            return
        settings = self.app.settings
        intent = Intent(
            workspace=settings.workspace,
            operator=settings.operator,
            channel="slack",
            channel_user=f"{team}:{user}",
            conversation=f"slack:{channel}",
            text=request.text,
            idempotency_key=request.key,
            pressed=request.pressed,
            delivery={"press": request.press} if request.press else {},
            inbox=("slack", self._inbox, number),
        )
        async with interim(self, channel, after=self.interim_after) as shown:
            try:
                reply = await self.app.dispatcher.handle(intent)
            finally:
                await shown.settle()  # never an interim message below the reply
            if not reply.queued:  # the database could not take it: say so now, best effort
                with contextlib.suppress(Exception):
                    await self.send_parts(channel, reply)
                return
            await self.sender.drain(f"slack:{channel}")

    async def send(self, target: str, reply: Reply) -> None:
        """A message SoloOS starts (a reminder, the briefing), then its chart if it has one. A failed
        text send raises, so the delivery log retries; a failed chart after the text arrived is only
        logged, so the retry never repeats a message the operator already has."""
        await self.send_parts(target, reply)
        if reply.image_png is not None:
            try:
                await self.send_chart(target, reply.image_png)
            except Exception as err:  # slack-sdk raises several kinds; the message itself has arrived
                log.warning("the chart for %s could not be uploaded: %s", target, err)

    async def send_chart(self, channel: str, png: bytes) -> None:
        await self.bolt.client.files_upload_v2(
            channel=channel, content=png, filename="soloos-chart.png", title="Last 14 days"
        )

    async def send_parts(self, channel: str, reply: Reply, *, start: int = 0, progress: Progress | None = None) -> None:
        messages = list(_messages(reply))
        for number, message_blocks in enumerate(messages, start=1):
            if number <= start:
                continue  # arrived on an earlier try
            await self.bolt.client.chat_postMessage(
                channel=channel, text=reply.text[:SECTION_LIMIT], blocks=message_blocks, **NO_UNFURL
            )
            if progress is not None and number < len(messages):
                await progress(number)

    async def post_interim(self, channel: str, text: str) -> str:
        """The interim message (``bot.interim.Board``); its handle is the message's ts."""
        posted = await self.bolt.client.chat_postMessage(channel=channel, text=to_mrkdwn(text), **NO_UNFURL)
        return str(posted["ts"])

    async def edit_interim(self, channel: str, handle: str, text: str) -> None:
        await self.bolt.client.chat_update(channel=channel, ts=handle, text=to_mrkdwn(text), **NO_UNFURL)

    async def delete_interim(self, channel: str, handle: str) -> None:
        await self.bolt.client.chat_delete(channel=channel, ts=handle)

    def failure(self, err: Exception) -> Exception | None:
        if not isinstance(err, SlackApiError):
            return None
        status = err.response.status_code
        if status == 429:
            return RetryAfter(float(err.response.headers.get("Retry-After", 1)), str(err))
        if status < 500 and err.response.get("error") in REFUSALS:
            return Refused(str(err.response.get("error")))
        return None

    async def show_outcome(self, channel: str, press: dict[str, Any], reply: Reply) -> None:
        """The pressed message loses its buttons and shows the outcome; when it cannot be updated,
        the outcome is posted in its thread."""
        outcome = f"{to_mrkdwn(reply.text)[: SECTION_LIMIT - 40]} (decided by <@{press['user']}>)"
        kept = [b for b in press.get("blocks", []) if b.get("type") != "actions"]
        kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]})
        try:
            await self.bolt.client.chat_update(channel=channel, ts=press["ts"], text=outcome, blocks=kept, **NO_UNFURL)
        except SlackApiError as err:
            if err.response.status_code == 429:
                raise
            log.info("could not update the pressed message in %s (%s); answering in its thread", channel, err)
            await self.bolt.client.chat_postMessage(channel=channel, text=outcome, thread_ts=press["ts"], **NO_UNFURL)

    async def _dispatch(self, request: SlackRequest) -> None:
        """Slack does not resend what was acknowledged, so the request is stored first; the
        transaction that records its reply marks it done. One cut off by a crash (or by a database
        that went away) is handled again by the sweep."""
        await self.app.memory.inbox.store("slack", self._inbox, [(request.number, dataclasses.asdict(request))])
        await self._handle(request)

    async def _handle(self, request: SlackRequest) -> None:
        self._working.add(request.number)
        try:
            await self._ask(request)
        finally:
            self._working.discard(request.number)

    async def _sweep(self, older_than: float) -> None:
        for stored in await self.app.memory.inbox.pending("slack", self._inbox, older_than=older_than):
            try:
                request = SlackRequest(**stored)
                if request.number in self._working:
                    continue
                log.info("handling a stored slack request again: %s", request.key)
                await self._handle(request)
            except DatabaseUnavailable:
                raise
            except Exception:  # one bad request must not stop the others
                log.exception("stored slack request %s failed again", stored.get("key"))

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # within Slack's 3 seconds; the work follows
        text = (body.get("text") or "").strip() or "help"
        if not text.startswith("/") and text.split()[0] in slack_subcommands():
            text = "/" + text  # "/soloos tasks" is /tasks; the registry says which words are commands
        await self._dispatch(
            SlackRequest(
                body.get("team_id"),
                body.get("user_id"),
                body["channel_id"],
                text,
                f"slack:cmd:{body.get('trigger_id')}",
            )
        )

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("bot_id") or event.get("subtype") or event.get("channel_type") != "im":
            return  # only people's direct messages; the bot's own posts and edits are not requests
        key = f"slack:{body.get('event_id')}"
        await self._dispatch(
            SlackRequest(body.get("team_id"), event.get("user"), event["channel"], event.get("text", ""), key)
        )

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        text = re.sub(r"^<@[A-Z0-9]+>\s*", "", event.get("text", ""))
        key = f"slack:{body.get('event_id')}"
        await self._dispatch(SlackRequest(body.get("team_id"), event.get("user"), event["channel"], text, key))

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body.get("user", {}).get("id")
        team = body.get("team", {}).get("id") if body.get("team") else None
        channel = body.get("channel", {}).get("id") or body.get("container", {}).get("channel_id")
        key = f"slack:act:{body.get('trigger_id') or action.get('action_ts')}"
        message = body.get("message") or {}
        press = {"ts": message["ts"], "blocks": message.get("blocks", []), "user": user} if message.get("ts") else None
        await self._dispatch(SlackRequest(team, user, channel, action.get("value", ""), key, pressed=True, press=press))
