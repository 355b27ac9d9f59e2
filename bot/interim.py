"""One interim message in a chat while a long turn runs: "Working on it…" and the turn's progress
lines (``agents.progress``), posted once the turn has lasted ``after`` seconds, edited in place as
lines come, and deleted once the reply is out.

It is best effort and never the reply: the reply is an outbox row (``bot.reply_sender``) delivered
as before. The channel stops updating the message (``settle``) before it delivers the reply, so the
interim message can never land below the answer, and deletes it after, so the chat is never left
with neither. A post, edit or delete that fails is logged and the interim message given up: the
turn and its reply go on as if it had never been.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from agents import progress

log = logging.getLogger(__name__)

TITLE = "Working on it…"
SHOWN_LINES = 5  # the latest progress lines the message shows
SETTLE_SECONDS = 10.0  # the longest the reply waits for a post or edit in flight to finish


class Board(Protocol):
    """How a channel posts, edits and deletes the interim message; ``post`` returns its handle."""

    async def post_interim(self, target: str, text: str) -> str: ...

    async def edit_interim(self, target: str, handle: str, text: str) -> None: ...

    async def delete_interim(self, target: str, handle: str) -> None: ...


def interim_text(lines: list[str]) -> str:
    """What the interim message says: the title, then the latest progress lines."""
    return "\n".join([TITLE, *(f"• {line}" for line in lines[-SHOWN_LINES:])])


class Interim:
    def __init__(self, board: Board, target: str, *, after: float, needs_progress: bool = False) -> None:
        """``needs_progress``: post only once there is a progress line to show (Telegram, whose
        "typing…" already says that a turn is running)."""
        self.board = board
        self.target = target
        self.after = after
        self.needs_progress = needs_progress
        self.lines: list[str] = []
        self.handle: str | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def heard(self, line: str) -> None:
        """An ``agents.progress`` listener: one more line to show."""
        self.lines.append(line)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"interim:{self.target}")

    async def settle(self) -> None:
        """Stop updating; a post or edit in flight finishes first (so its message can be deleted)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._wake.set()
        try:
            done, _ = await asyncio.wait({task}, timeout=SETTLE_SECONDS)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            log.info("the interim message in %s did not settle in time; left as it is", self.target)
            task.cancel()

    async def remove(self) -> None:
        """Delete the interim message, if one was posted (best effort)."""
        handle, self.handle = self.handle, None
        if handle is None:
            return
        try:
            await self.board.delete_interim(self.target, handle)
        except Exception as err:  # the channel libraries raise many kinds; the reply is what counts
            log.info("could not delete the interim message in %s: %s", self.target, err)

    async def _run(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.after)
        shown = ""
        while not self._stop.is_set():
            self._wake.clear()
            text = interim_text(self.lines)
            if text != shown and (self.lines or not self.needs_progress):
                try:
                    await self._show(text)
                except Exception as err:  # the channel libraries raise many kinds; give the message up
                    log.info("the interim message in %s could not be shown: %s", self.target, err)
                    return
                shown = text
            await self._wake.wait()

    async def _show(self, text: str) -> None:
        if self.handle is None:
            self.handle = await self.board.post_interim(self.target, text)
        else:
            await self.board.edit_interim(self.target, self.handle, text)


@contextlib.asynccontextmanager
async def interim(board: Board, target: str, *, after: float, needs_progress: bool = False) -> AsyncIterator[Interim]:
    """Around a turn: the interim message follows the turn's progress; on the way out it is settled
    and deleted whatever happened (a reply, a failure, a cancellation). Call ``settle`` before the
    reply is delivered."""
    shown = Interim(board, target, after=after, needs_progress=needs_progress)
    shown.start()
    try:
        with progress.listening(shown.heard):
            yield shown
    finally:
        await shown.settle()
        await shown.remove()


__all__ = ["TITLE", "Board", "Interim", "interim", "interim_text"]
