"""Delivers what a chat channel owes the operator, from the channel outbox (``memory.replies``).

The dispatcher queues every reply in the transaction that records the handled message; the channel
adapter then calls ``drain`` for that conversation at once, and ``run`` keeps retrying whatever is
left — after a send failed, or after a crash, from any process. One conversation's rows go out in
order: a row that failed waits for its retry time and the rows behind it wait with it.

A row is a reply to send (its parts from where the last try stopped, then its chart) or a button
press's outcome to show in the pressed message. The channel supplies how to do each (``Renderer``)
and translates its library's errors: ``RetryAfter`` when the channel said when to come back
(Telegram's and Slack's 429), ``Refused`` when it will never take the message (the chat is gone,
the bot was blocked); anything else is a transient failure, retried with backoff for as long as it
takes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.intent import Reply
from memory import DatabaseUnavailable, OutboxRow, ReplyOutbox

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds before the 1st, 2nd, … retry; then every last value
REFUSED_TRIES = 3  # a message the channel refuses is tried this often before it is given up
POLL_SECONDS = 1.0


class RetryAfter(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class Refused(Exception):
    """The channel refuses this message and would refuse it again."""


Progress = Callable[[int], Awaitable[None]]  # how many parts of a long reply have arrived


class Renderer(Protocol):
    """What a channel does with one outbox row; ``target`` is the chat or channel id."""

    async def send_parts(self, target: str, reply: Reply, *, start: int = 0, progress: Progress | None = None) -> None:
        """Send the reply's parts after the first ``start``, reporting each that arrives."""

    async def send_chart(self, target: str, png: bytes) -> None: ...

    async def show_outcome(self, target: str, press: dict[str, Any], reply: Reply) -> None:
        """Show a press's outcome in the pressed message (or, when that fails, answering it)."""

    def failure(self, err: Exception) -> Exception | None:
        """``RetryAfter`` or ``Refused`` for an error the channel knows; None for a transient one."""


class ReplySender:
    def __init__(
        self,
        replies: ReplyOutbox,
        channel: str,
        renderer: Renderer,
        *,
        workspace: str,
        worker: int,
        backoff: tuple[float, ...] = BACKOFF,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.replies = replies
        self.channel = channel
        self.workspace = workspace
        self.renderer = renderer
        self.worker = worker
        self.backoff = backoff
        self.poll = poll
        self.resent = 0  # sends that may have repeated one cut off by a crash (the channel cannot tell)
        self._locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._wake = asyncio.Event()

    async def drain(self, conversation: str) -> None:
        """Send the conversation's due rows in order; stop at the first that fails (it is retried)."""
        async with self._locks[conversation]:
            while (row := await self.replies.take(self.workspace, conversation, self.worker)) is not None:
                if not await self._send(row):
                    self._wake.set()
                    return

    async def run(self) -> None:
        """Forever: retry what is due in any conversation of this channel. Survives a database that
        goes away (the rows wait in it) and a channel that is down (the rows wait for their retry)."""
        while True:
            try:
                for conversation in await self.replies.due_conversations(self.channel, self.workspace):
                    await self.drain(conversation)
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable as err:
                log.warning("%s replies wait for the database: %s", self.channel, err)
            except Exception:  # a bug must not stop delivery for good
                log.exception("%s reply sender failed; trying again", self.channel)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def _send(self, row: OutboxRow) -> bool:
        if row.resent:
            self.resent += 1
            log.warning("reply %s to %s is sent again after a crash; it may arrive twice", row.id, row.conversation)

        async def progress(parts: int) -> None:
            await self.replies.progress(row.id, parts)

        try:
            await self._deliver(row, progress)
        except RetryAfter as err:
            await self._later(row, f"{err} (retry after {err.seconds:g} s)", err.seconds)
            return False
        except Refused as err:
            if row.attempts >= REFUSED_TRIES:
                log.error("reply %s to %s given up: %s", row.id, row.conversation, err)
                await self.replies.give_up(row.id, str(err))
                return True  # the rows behind it go on
            await self._later(row, f"refused: {err}", self._delay(row.attempts))
            return False
        except DatabaseUnavailable:
            raise
        except Exception as err:  # channel libraries raise many kinds; each is a failed attempt
            await self._later(row, f"{type(err).__name__}: {err}", self._delay(row.attempts))
            return False
        await self.replies.sent(row.id)
        return True

    async def _deliver(self, row: OutboxRow, progress: Progress) -> None:
        target = row.conversation.partition(":")[2]
        reply = Reply.from_json(row.payload["reply"])
        press = row.payload.get("press")
        try:
            if press and reply.on_press == "replace":
                await self.renderer.show_outcome(target, press, reply)
                return
            await self.renderer.send_parts(target, reply, start=row.parts_sent, progress=progress)
            if row.image is not None:
                await self.renderer.send_chart(target, row.image)
        except DatabaseUnavailable:
            raise
        except Exception as err:
            known = self.renderer.failure(err)
            if known is not None:
                raise known from err
            raise

    def _delay(self, attempts: int) -> float:
        return self.backoff[min(attempts, len(self.backoff)) - 1]

    async def _later(self, row: OutboxRow, error: str, seconds: float) -> None:
        log.warning("reply %s to %s not delivered (%s); next try in %g s", row.id, row.conversation, error, seconds)
        await self.replies.retry_later(row.id, error, seconds)
