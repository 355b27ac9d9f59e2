"""The Telegram channel (python-telegram-bot 22, long polling or a webhook).

It only translates: an ``Update`` becomes an ``Intent`` (idempotency key = the update id), a
``Reply`` becomes HTML messages of at most 4,096 characters with an inline keyboard for its
buttons. Button presses are answered at once (best effort: a late answer is refused by Telegram,
the press still counts), run through the same dispatcher, and the message is edited to show the
outcome and who decided — or, when the edit fails or the reply says ``on_press="post"``, the answer
comes as a new message. Users not on the allowlist get one polite refusal and nothing is stored.

Nothing is lost on the way (docs/decisions.md D37): an update is stored in the inbox before Telegram
is told it arrived; its reply is queued in the channel outbox in the transaction that records it as
handled, and ``bot.reply_sender`` delivers it with retries. Of several processes on one bot token,
one polls (elected through Postgres); the others stand by and take over when it dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import html
import logging
import re
import time
import warnings
from typing import Any

import psycopg
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, TelegramError
from telegram.error import RetryAfter as TelegramRetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from agents.commands import telegram_menu
from bot.app import App
from bot.background import cancel_all, sweep_forever
from bot.chat_text import REFUSAL, TELEGRAM_LIMIT, split_text
from bot.intent import Intent, Reply
from bot.interim import interim
from bot.leadership import lead
from bot.reply_sender import Progress, Refused, ReplySender, RetryAfter

log = logging.getLogger(__name__)

LIMIT = TELEGRAM_LIMIT
TYPING_AFTER = 0.8  # seconds of work before "typing…" shows
TYPING_EVERY = 4.0  # and renewed this often while the turn runs (Telegram shows it ~5 s)
ROW = 3  # buttons per keyboard row
POLL_SECONDS = 10  # long-polling timeout
ALLOWED_UPDATES = ["message", "callback_query"]
STANDBY_SECONDS = 2.0  # a standby process tries for the poller's lock this often
SWEEP_SECONDS = 30.0  # stored updates not handled after this long are dispatched again
CONFLICT_PAUSE = 30.0  # after a 409 Conflict (another program polls this token), wait this long
CONFLICT_REPEAT = 600.0  # and say so again at most this often
CHART_CAPTION = "Last 14 days"
# No link previews, ever: Telegram's servers fetch a previewed URL as soon as the message arrives, so
# a link a reply carries (e.g. one an injected e-mail made up, with data in its query) would leak.
NO_PREVIEWS = Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True))


def to_html(text: str) -> str:
    """Our Markdown subset (``*bold*``, `` `code` ``) as Telegram HTML, everything else escaped."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", escaped)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    buttons = [InlineKeyboardButton(b.label, callback_data=b.action[:64]) for b in reply.buttons]
    return InlineKeyboardMarkup([buttons[n : n + ROW] for n in range(0, len(buttons), ROW)])


class TelegramChannel:
    def __init__(
        self,
        app: App,
        *,
        token: str,
        api_url: str,
        allowed_users: frozenset[int],
        standby_seconds: float = STANDBY_SECONDS,
        sweep_seconds: float = SWEEP_SECONDS,
        typing_after: float = TYPING_AFTER,
        typing_every: float = TYPING_EVERY,
        interim_after: float | None = None,
    ) -> None:
        """``interim_after``: seconds of a turn with a specialist at work before its progress shows in
        a message (default: the ``telegram_interim_seconds`` setting)."""
        self.app = app
        self.allowed = allowed_users
        self.typing_after = typing_after
        self.typing_every = typing_every
        self.interim_after = app.settings.telegram_interim_seconds if interim_after is None else interim_after
        self.bot_id = token.split(":", 1)[0]  # update ids count per bot
        self.standby_seconds = standby_seconds
        self.sweep_seconds = sweep_seconds
        self._refused: set[int] = set()
        self._chat_locks: dict[int, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self.application = (
            Application.builder()
            .token(token)
            .base_url(f"{api_url.rstrip('/')}/bot")
            .base_file_url(f"{api_url.rstrip('/')}/file/bot")
            .rate_limiter(AIORateLimiter(max_retries=3))
            .defaults(NO_PREVIEWS)  # every message and edit this bot sends
            .concurrent_updates(32)  # chats are handled in parallel; each chat stays in order (below)
            .build()
        )
        self.application.add_handler(CallbackQueryHandler(self._on_button))
        self.application.add_handler(MessageHandler(filters.TEXT, self._on_text))
        self.application.add_handler(TypeHandler(Update, self._on_other))  # anything else: nothing to do
        self.application.add_error_handler(self._on_error)
        self.sender = ReplySender(
            app.memory.replies,
            "telegram",
            self,
            workspace=app.settings.workspace,
            worker=app.memory.conversations.worker,
        )
        self._runner: web.AppRunner | None = None
        self._secret = ""
        self.webhook_port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._working: set[int] = set()  # update ids being handled in this process
        self.polling = False  # this process holds the poller's lock
        self._conflict_said = -CONFLICT_REPEAT

    async def start(
        self,
        *,
        webhook_url: str | None = None,
        secret_token: str | None = None,
        listen: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Long polling by default; with ``webhook_url``, Telegram posts updates to our endpoint and
        every request must carry ``secret_token`` in ``X-Telegram-Bot-Api-Secret-Token``."""
        await self.application.initialize()
        await self.application.start()
        await self.application.bot.set_my_commands(telegram_menu())  # from the command registry
        self._tasks.append(asyncio.create_task(self.sender.run(), name="telegram-replies"))
        if webhook_url is None:
            poll = lead(
                self.app.memory.db.target.conninfo,
                f"telegram-poller:{self.bot_id}",
                self._poll,
                retry=self.standby_seconds,
                step_down=self._step_down,
            )
            self._tasks.append(asyncio.create_task(poll, name="telegram-poll"))
            return
        if not secret_token:
            raise ValueError("webhook mode needs a secret token, so that forged updates are refused")
        self._tasks.append(
            asyncio.create_task(sweep_forever(self._sweep, self.sweep_seconds, "telegram inbox"), name="telegram-sweep")
        )
        self._secret = secret_token
        server = web.Application(client_max_size=1 << 20)
        server.router.add_post("/telegram", self._on_webhook)
        self._runner = web.AppRunner(server)
        await self._runner.setup()
        site = web.TCPSite(self._runner, listen, port)
        await site.start()
        self.webhook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self.application.bot.set_webhook(webhook_url, secret_token=secret_token, allowed_updates=ALLOWED_UPDATES)

    # -- receiving ------------------------------------------------------------------------------

    async def _poll(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Long polling, in the one process that holds this bot's poller lock. Updates are
        acknowledged (by asking for the next offset) only after they are stored in the inbox: an
        update fetched by a process that dies is handled after the restart, not lost.
        (python-telegram-bot's own poller acknowledges before handling.)"""
        self.polling = True
        log.info("this process now polls Telegram for bot %s", self.bot_id)
        await self.application.bot.delete_webhook()
        await self._sweep(0)  # what an earlier process stored and never handled, first
        offset: int | None = None
        swept = time.monotonic()
        paused: float | None = None  # since when polling fails
        said = 0.0  # when that was last logged: once, then once a minute
        while True:
            try:
                updates = await self.application.bot.get_updates(
                    offset=offset, timeout=POLL_SECONDS, allowed_updates=ALLOWED_UPDATES
                )
            except Conflict as err:
                self._say_conflict(err)
                await asyncio.sleep(CONFLICT_PAUSE)
                continue
            except TelegramError as err:  # network or Telegram trouble: wait, then poll again
                now = time.monotonic()
                if paused is None or now - said >= 60:
                    log.warning("telegram polling paused: %s", err)
                    said = now
                paused = paused if paused is not None else now
                await asyncio.sleep(1.0)
                continue
            if paused is not None:
                log.info("telegram polling resumed after %.0f s", time.monotonic() - paused)
                paused = None
            if updates:
                await self._accept(list(updates))  # a database error ends the lead: nothing acknowledged
                offset = updates[-1].update_id + 1
            await conn.execute("SELECT 1")  # still connected, so still the poller
            if time.monotonic() - swept > self.sweep_seconds:
                await self._sweep(self.sweep_seconds)
                swept = time.monotonic()

    def _step_down(self) -> None:
        if self.polling and self._tasks:  # (not when it is stopping)
            log.warning("this process stopped polling Telegram for bot %s; it stands by", self.bot_id)
        self.polling = False

    def _say_conflict(self, err: Exception) -> None:
        now = time.monotonic()
        if now - self._conflict_said < CONFLICT_REPEAT:
            return
        self._conflict_said = now
        log.error(
            "Telegram refuses to let this SoloOS poll bot %s: another program is polling the same token (%s). "
            "Only one may. SoloOS processes on the same database share it by themselves, so this is another "
            "program or a SoloOS on another database: stop it, or give each its own bot token (@BotFather). "
            "Trying again every %.0f s.",
            self.bot_id,
            err,
            CONFLICT_PAUSE,
        )

    async def _accept(self, updates: list[Update]) -> None:
        """Store, then queue for handling; the caller acknowledges only after this returns."""
        await self.app.memory.inbox.store("telegram", self.bot_id, [(u.update_id, u.to_dict()) for u in updates])
        for update in updates:
            await self.application.update_queue.put(update)

    async def _sweep(self, older_than: float) -> None:
        """Dispatch stored updates nobody finished (their process died, or the database went away
        while they were handled); the claim on each message makes a second look harmless."""
        pending = await self.app.memory.inbox.pending("telegram", self.bot_id, older_than=older_than)
        again = [Update.de_json(p, self.application.bot) for p in pending]
        again = [u for u in again if u.update_id not in self._working]
        for update in again:
            await self.application.update_queue.put(update)
        if again:
            log.info("handling %d stored telegram updates again", len(again))

    async def _on_webhook(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), self._secret):
            log.warning("refused a telegram webhook call with a wrong secret token")
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update object")
            update = Update.de_json(data, self.application.bot)
        except Exception as err:  # the boundary: whatever PTB or JSON parsing raises, the sender gets 400
            log.warning("refused a malformed telegram webhook body: %s", err)
            return web.Response(status=400, text="not an update")
        try:
            await self._accept([update])  # stored, then answered; handled in order after
        except Exception as err:  # not stored: a non-200 makes Telegram deliver it again later
            log.warning("could not store a telegram update: %s", err)
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.application.updater and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # -- handling -------------------------------------------------------------------------------

    def _intent(self, update: Update, text: str, *, press: dict[str, Any] | None = None) -> Intent:
        user, chat = update.effective_user, update.effective_chat
        assert user is not None and chat is not None
        settings = self.app.settings
        return Intent(
            workspace=settings.workspace,
            operator=settings.operator,  # one operator; their Telegram id is on the allowlist
            channel="telegram",
            channel_user=str(user.id),
            conversation=f"telegram:{chat.id}",
            text=text,
            idempotency_key=f"telegram:{self.bot_id}:{update.update_id}",
            pressed=press is not None,
            delivery={"press": press} if press is not None else {},
            inbox=("telegram", self.bot_id, update.update_id),
        )

    async def _allowed(self, update: Update) -> bool:
        user = update.effective_user
        if user is not None and user.id in self.allowed:
            return True
        if user is not None and user.id not in self._refused and update.effective_chat is not None:
            self._refused.add(user.id)
            with contextlib.suppress(TelegramError):  # a refusal is a courtesy; nothing is owed
                await self.application.bot.send_message(update.effective_chat.id, REFUSAL)
        log.warning("refused telegram user %s", user.id if user else "?")
        return False

    async def _done(self, update: Update) -> None:
        await self.app.memory.inbox.done("telegram", self.bot_id, update.update_id)

    async def _on_other(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An update no handler above took (a photo, a sticker): nothing to answer, so it is done."""
        if isinstance(update, Update):
            await self._done(update)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A handler failed (the database went away mid-turn, a bug): the update stays in the inbox
        and the sweep dispatches it again; the claim on its message keeps that from acting twice."""
        number = getattr(update, "update_id", "?")
        log.error("handling telegram update %s failed; it will be tried again", number, exc_info=context.error)

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None or not await self._allowed(update):
            await self._done(update)
            return
        async with self._chat_locks[message.chat_id]:  # FIFO: one chat's messages in the order sent
            await self._handle(message.chat_id, update, self._intent(update, message.text))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()  # at once, so the client stops its spinner
        except TelegramError as err:  # e.g. "query is too old": the press counts all the same
            log.info("could not answer telegram button press %s (%s); handling it anyway", query.id, err)
        if not await self._allowed(update) or not query.data or query.message is None:
            await self._done(update)
            return
        chat_id = query.message.chat.id
        press = {
            "message_id": query.message.message_id,
            "html": getattr(query.message, "text_html", None) or "",  # Telegram sends text and entities
            "who": query.from_user.first_name if query.from_user else "someone",
        }
        async with self._chat_locks[chat_id]:
            await self._handle(chat_id, update, self._intent(update, query.data, press=press))

    async def _handle(self, chat_id: int, update: Update, intent: Intent) -> None:
        """The turn, with "typing…" kept alive while it runs and, when a specialist is at work in a
        long one, its progress in one interim message (``bot.interim``: deleted once the reply is
        out). Both stop on every way out: the reply, a failure, a cancellation."""
        self._working.add(update.update_id)
        async with interim(self, str(chat_id), after=self.interim_after, needs_progress=True) as shown:
            typing = asyncio.create_task(self._typing(chat_id))  # only shows if the work takes a while
            try:
                reply = await self.app.dispatcher.handle(intent)
            finally:
                typing.cancel()
                await asyncio.wait({typing})  # no "typing…" after this (it would outlast the reply)
                self._working.discard(update.update_id)
                await shown.settle()  # never an interim message below the reply
            if not reply.queued:  # the database could not take it: say so now, best effort
                with contextlib.suppress(TelegramError):
                    await self.send_parts(str(chat_id), reply)
                return
            await self.sender.drain(intent.conversation)

    # -- sending --------------------------------------------------------------------------------

    def failure(self, err: Exception) -> Exception | None:
        if isinstance(err, TelegramRetryAfter):
            return RetryAfter(_retry_after(err), str(err))
        if isinstance(err, BadRequest | Forbidden):
            return Refused(str(err))
        return None

    async def show_outcome(self, target: str, press: dict[str, Any], reply: Reply) -> None:
        """The pressed message shows the outcome and who decided; when it cannot be edited (deleted,
        too old), the outcome comes as a new message answering it."""
        chat_id = int(target)
        outcome = f"{press['html']}\n\n— {to_html(reply.text)} (decided by {html.escape(press['who'])})"
        try:
            await self.application.bot.edit_message_text(
                outcome[-LIMIT:], chat_id=chat_id, message_id=press["message_id"], parse_mode=ParseMode.HTML
            )
        except BadRequest as err:
            if "not modified" in str(err).lower():
                return  # this very edit arrived before a crash: nothing to do again
            log.info("could not edit the pressed message in chat %s (%s); answering it instead", chat_id, err)
            await self.application.bot.send_message(
                chat_id,
                f"{to_html(reply.text)} (decided by {html.escape(press['who'])})"[-LIMIT:],
                parse_mode=ParseMode.HTML,
                reply_parameters=ReplyParameters(press["message_id"], allow_sending_without_reply=True),
            )

    async def send(self, target: str, reply: Reply) -> None:
        """A message SoloOS starts (a reminder, the briefing): text, then the chart if there is one.
        A failed text send raises, so the delivery log retries; a failed chart after the text arrived
        is only logged, so the retry never repeats a message the operator already has."""
        await self.send_parts(target, reply)
        if reply.image_png is not None:
            try:
                await self.send_chart(target, reply.image_png)
            except TelegramError as err:
                log.warning("the chart for chat %s could not be sent: %s", target, err)

    async def send_chart(self, target: str, png: bytes) -> None:
        await self.application.bot.send_photo(int(target), png, caption=CHART_CAPTION)

    async def send_parts(self, target: str, reply: Reply, *, start: int = 0, progress: Progress | None = None) -> None:
        chat_id = int(target)
        chunks = list(split_text(reply.text))
        for number, chunk in enumerate(chunks, start=1):
            if number <= start:
                continue  # arrived on an earlier try
            markup = keyboard(reply) if number == len(chunks) else None
            await self.application.bot.send_message(
                chat_id, to_html(chunk), parse_mode=ParseMode.HTML, reply_markup=markup
            )
            if progress is not None and number < len(chunks):
                await progress(number)

    async def _typing(self, chat_id: int) -> None:
        """ "typing…" after ``typing_after`` seconds of work, renewed every ``typing_every`` while it
        lasts (Telegram shows it ~5 s). Quick answers skip it: every API call counts against
        Telegram's 30 requests a second."""
        await asyncio.sleep(self.typing_after)
        while True:
            with contextlib.suppress(TelegramError):
                await self.application.bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(self.typing_every)

    # -- the interim message (bot.interim.Board) ------------------------------------------------

    async def post_interim(self, target: str, text: str) -> str:
        message = await self.application.bot.send_message(int(target), to_html(text), parse_mode=ParseMode.HTML)
        with contextlib.suppress(TelegramError):  # a message ends "typing…", and the turn still runs
            await self.application.bot.send_chat_action(int(target), ChatAction.TYPING)
        return str(message.message_id)

    async def edit_interim(self, target: str, handle: str, text: str) -> None:
        await self.application.bot.edit_message_text(
            to_html(text), chat_id=int(target), message_id=int(handle), parse_mode=ParseMode.HTML
        )

    async def delete_interim(self, target: str, handle: str) -> None:
        await self.application.bot.delete_message(int(target), int(handle))


def _retry_after(err: TelegramRetryAfter) -> float:
    """Seconds Telegram asked us to wait (PTB 22 warns that the attribute becomes a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = err.retry_after
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
