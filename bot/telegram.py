"""The Telegram channel (python-telegram-bot 22, long polling).

It only translates: an ``Update`` becomes an ``Intent`` (idempotency key = the update id), a
``Reply`` becomes HTML messages of at most 4,096 characters with an inline keyboard for its
buttons. Button presses are answered at once, run through the same dispatcher, and the message is
edited to show the outcome and who decided (or, when the reply says ``on_press="post"``, the answer
comes as a new message). Users not on the allowlist get one polite refusal and
nothing is stored.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import html
import logging
import re

from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
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
from bot.chat_text import REFUSAL, TELEGRAM_LIMIT, split_text
from bot.intent import Intent, Reply

log = logging.getLogger(__name__)

LIMIT = TELEGRAM_LIMIT
TYPING_AFTER = 0.8  # seconds
ROW = 3  # buttons per keyboard row
POLL_SECONDS = 10  # long-polling timeout
ALLOWED_UPDATES = ["message", "callback_query"]
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
    def __init__(self, app: App, *, token: str, api_url: str, allowed_users: frozenset[int]) -> None:
        self.app = app
        self.allowed = allowed_users
        self.bot_id = token.split(":", 1)[0]  # update ids count per bot
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
        self._runner: web.AppRunner | None = None
        self._secret = ""
        self.webhook_port = 0
        self.application.add_handler(MessageHandler(filters.TEXT, self._on_text))
        self.application.add_handler(TypeHandler(Update, self._handled), group=1)  # after the answer
        self._poller: asyncio.Task[None] | None = None
        self._replayed: set[int] = set()

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
        await self._replay()
        if webhook_url is None:
            await self.application.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
            return
        if not secret_token:
            raise ValueError("webhook mode needs a secret token, so that forged updates are refused")
        self._secret = secret_token
        server = web.Application(client_max_size=1 << 20)
        server.router.add_post("/telegram", self._on_webhook)
        self._runner = web.AppRunner(server)
        await self._runner.setup()
        site = web.TCPSite(self._runner, listen, port)
        await site.start()
        self.webhook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self.application.bot.set_webhook(webhook_url, secret_token=secret_token, allowed_updates=ALLOWED_UPDATES)

    async def _poll(self) -> None:
        """Long polling that acknowledges updates (by asking for the next offset) only after they
        are stored in the inbox: an update fetched by a process that dies is handled after the
        restart, not lost. (python-telegram-bot's own poller acknowledges before handling.)"""
        offset: int | None = None
        while True:
            try:
                updates = await self.application.bot.get_updates(
                    offset=offset, timeout=POLL_SECONDS, allowed_updates=ALLOWED_UPDATES
                )
                if updates:
                    await self._accept(list(updates))
                    offset = updates[-1].update_id + 1
            except asyncio.CancelledError:
                raise
            except Exception as err:  # network, Telegram or database trouble: wait, then poll again
                log.warning("telegram polling paused: %s", err)
                await asyncio.sleep(1.0)

    async def _accept(self, updates: list[Update]) -> None:
        """Store, then queue for handling; the caller acknowledges only after this returns."""
        await self.app.memory.inbox.store("telegram", self.bot_id, [(u.update_id, u.to_dict()) for u in updates])
        for update in updates:
            await self.application.update_queue.put(update)

    async def _replay(self) -> None:
        """Updates stored by an earlier process that were never marked handled."""
        for payload in await self.app.memory.inbox.pending("telegram", self.bot_id):
            update = Update.de_json(payload, self.application.bot)
            self._replayed.add(update.update_id)
            await self.application.update_queue.put(update)
        if self._replayed:
            log.info("handling %d telegram updates left by a previous run", len(self._replayed))

    async def _handled(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update):
            await self.app.memory.inbox.done("telegram", self.bot_id, update.update_id)

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
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._runner is not None:
            await self._runner.cleanup()
        if self.application.updater and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    def _intent(self, update: Update, text: str, *, pressed: bool = False) -> Intent:
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
            pressed=pressed,
        )

    async def _allowed(self, update: Update) -> bool:
        user = update.effective_user
        if user is not None and user.id in self.allowed:
            return True
        if user is not None and user.id not in self._refused and update.effective_chat is not None:
            self._refused.add(user.id)
            await self.application.bot.send_message(update.effective_chat.id, REFUSAL)
        log.warning("refused telegram user %s", user.id if user else "?")
        return False

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None or not await self._allowed(update):
            return
        async with self._chat_locks[message.chat_id]:  # FIFO: one chat's messages in the order sent
            await self._answer(message.chat_id, update, message.text, context)

    async def _answer(self, chat_id: int, update: Update, text: str, context: ContextTypes.DEFAULT_TYPE) -> None:
        typing = asyncio.create_task(self._typing(chat_id))  # only shows if the work takes a while
        try:
            reply = await self.app.dispatcher.handle(self._intent(update, text))
        finally:
            typing.cancel()
        if reply.duplicate and update.update_id not in self._replayed:
            return  # a redelivered update: it was answered the first time
        await self._send_reply(chat_id, reply)  # (a replayed one may have died before its reply went out)
        if reply.image_png is not None:
            await context.bot.send_photo(chat_id, reply.image_png, caption="Last 14 days")

    async def send(self, target: str, reply: Reply) -> None:
        """A message SoloOS starts (a reminder, the briefing): text, then the chart if there is one.
        A failed text send raises, so the delivery log retries; a failed chart after the text arrived
        is only logged, so the retry never repeats a message the operator already has."""
        chat_id = int(target)
        await self._send_reply(chat_id, reply)
        if reply.image_png is not None:
            try:
                await self.application.bot.send_photo(chat_id, reply.image_png, caption="Last 14 days")
            except TelegramError as err:
                log.warning("the chart for chat %s could not be sent: %s", chat_id, err)

    async def _send_reply(self, chat_id: int, reply: Reply) -> None:
        chunks = list(split_text(reply.text))
        for number, chunk in enumerate(chunks, start=1):
            markup = keyboard(reply) if number == len(chunks) else None
            await self.application.bot.send_message(
                chat_id, to_html(chunk), parse_mode=ParseMode.HTML, reply_markup=markup
            )

    async def _typing(self, chat_id: int) -> None:
        """ "typing…" after TYPING_AFTER seconds of work, renewed while it lasts (Telegram shows it ~5 s).
        Quick answers skip it: every API call counts against Telegram's 30 requests a second."""
        await asyncio.sleep(TYPING_AFTER)
        while True:
            await self.application.bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(4.5)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        await query.answer()  # at once, so the client stops its spinner
        if not await self._allowed(update) or not query.data or query.message is None:
            return
        chat_id = query.message.chat.id
        async with self._chat_locks[chat_id]:
            reply = await self.app.dispatcher.handle(self._intent(update, query.data, pressed=True))
            if reply.duplicate and update.update_id not in self._replayed:
                return
            if reply.on_press == "post":  # e.g. Details: the pressed message keeps its buttons
                await self._send_reply(chat_id, reply)  # all of it, split like any reply
                return
            who = query.from_user.first_name if query.from_user else "someone"
            original = getattr(query.message, "text_html", None) or ""  # Telegram sends text and entities
            outcome = f"{original}\n\n— {to_html(reply.text)} (decided by {html.escape(who)})"
            await context.bot.edit_message_text(
                outcome[-LIMIT:], chat_id=chat_id, message_id=query.message.message_id, parse_mode=ParseMode.HTML
            )
