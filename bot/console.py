"""The console channel: a REPL on a terminal, one reply per line when stdin is piped.

While a turn runs longer than ``SPINNER_AFTER`` seconds, a terminal shows one "thinking…" line —
a spinner, what the turn is doing (``agents.progress``: "Research is looking into it…") and the
seconds so far — redrawn in place and cleared before the reply prints. Only on a terminal: piped
or captured output stays exactly the replies (piped input shows the line on stderr when that is a
terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO, TextIO

from agents import progress
from bot.app import App
from bot.intent import Intent, Reply

PROMPT = "you › "
SPINNER_AFTER = 0.5  # seconds of work before the "thinking…" line shows
TICK = 0.1  # seconds between its frames
FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
THINKING = "Thinking…"
CLEAR = "\r\x1b[2K"  # back to the start of the line, and erase it


def render(reply: Reply) -> str:
    """Reply text, with its buttons as numbered choices the next line can pick by number."""
    if not reply.buttons:
        return reply.text
    choices = "   ".join(f"[{n}] {button.label}" for n, button in enumerate(reply.buttons, start=1))
    return f"{reply.text}\n{choices}"


def pick(text: str, last: Reply | None) -> str:
    """A bare number answers the previous reply's choices; anything else is a message."""
    stripped = text.strip()
    if last and last.buttons and stripped.isdigit() and 1 <= int(stripped) <= len(last.buttons):
        return last.buttons[int(stripped) - 1].action
    return text


def _intent(app: App, session: str, number: int, text: str, last: Reply | None) -> Intent:
    """The line as an intent; a number picking one of the previous reply's choices is a press."""
    chosen = pick(text, last)
    return Intent(
        workspace=app.settings.workspace,
        operator=app.settings.operator,
        channel="console",
        channel_user=app.settings.operator,
        conversation=f"console:{app.settings.operator}",
        text=chosen,
        idempotency_key=f"console:{session}:{number}",
        pressed=chosen != text,
    )


def _is_terminal(stream: TextIO) -> bool:
    """A terminal that can erase a line (a ``TERM=dumb`` one cannot: it gets no thinking line)."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: not a terminal
        return False


class Thinking:
    """The "thinking…" line of one turn, on a terminal (``screen``; None shows nothing)."""

    def __init__(self, screen: TextIO | None, *, after: float = SPINNER_AFTER, tick: float = TICK) -> None:
        self.screen = screen
        self.after = after
        self.tick = tick
        self.line = THINKING
        self.drawn = False
        self._task: asyncio.Task[None] | None = None

    def heard(self, line: str) -> None:
        """An ``agents.progress`` listener: the line shows what the turn does now."""
        self.line = line

    def clear(self) -> None:
        """Erase the line (before anything else prints); the next frame draws it again."""
        if self.screen is not None and self.drawn:
            self.screen.write(CLEAR)
            self.screen.flush()
            self.drawn = False

    def start(self) -> None:
        if self.screen is not None:
            self._task = asyncio.create_task(self._spin(self.screen), name="console-thinking")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        self.clear()

    async def _spin(self, screen: TextIO) -> None:
        began = time.monotonic()
        await asyncio.sleep(self.after)
        for frame in itertools.cycle(FRAMES):
            seconds = int(time.monotonic() - began)
            text = f"{frame} {self.line} {seconds} s" if seconds else f"{frame} {self.line}"
            width = shutil.get_terminal_size().columns - 1  # a wrapped line could not be erased
            screen.write(CLEAR + text[:width])
            screen.flush()
            self.drawn = True
            await asyncio.sleep(self.tick)


class Console:
    """The terminal as an outbound channel: reminders and briefings print as they fire, and their
    choices can be picked by number like any reply's. ``status``: where the "thinking…" line of a
    long turn shows (a terminal), None for nowhere."""

    def __init__(
        self,
        app: App,
        write: TextIO,
        *,
        prompt: str = "",
        status: TextIO | None = None,
        spinner_after: float = SPINNER_AFTER,
    ) -> None:
        self.app = app
        self.write = write
        self.prompt = prompt
        self.status = status
        self.spinner_after = spinner_after
        self.last: Reply | None = None
        self._thinking: Thinking | None = None

    async def send(self, _target: str, reply: Reply) -> None:
        self.last = reply
        if self._thinking is not None:
            self._thinking.clear()
        self.write.write(f"\n{render(reply)}{self.chart_note(reply)}\n\n{self.prompt}")
        self.write.flush()

    @contextlib.asynccontextmanager
    async def thinking(self) -> AsyncIterator[Thinking]:
        """Around a turn: the "thinking…" line with its progress, erased when the turn ends."""
        shown = Thinking(self.status, after=self.spinner_after)
        self._thinking = shown
        shown.start()
        try:
            with progress.listening(shown.heard):
                yield shown
        finally:
            self._thinking = None
            await shown.stop()

    async def ask(self, intent: Intent) -> Reply:
        """One turn through the dispatcher, the "thinking…" line showing while it runs."""
        async with self.thinking():
            reply = await self.app.dispatcher.handle(intent)
        self.last = reply
        return reply

    def chart_note(self, reply: Reply) -> str:
        if reply.image_png is None:
            return ""
        folder = self.app.settings.home / "charts"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.app.memory.clock.local(self.app.settings.timezone):%Y-%m-%d-%H%M%S}.png"
        path.write_bytes(reply.image_png)
        return f"\nChart: {path}"

    def __enter__(self) -> Console:
        self.app.outbound.register("console", self.send)
        return self

    def __exit__(self, *_: object) -> None:
        self.app.outbound.unregister("console")


async def run_piped(
    app: App, stdin: BinaryIO, stdout: TextIO, *, status: TextIO | None = None, spinner_after: float = SPINNER_AFTER
) -> int:
    """Read one message per line, print one reply per message, stop at EOF. Returns failures.
    ``status``: where the "thinking…" line shows; by default stderr when that is a terminal."""
    if status is None and _is_terminal(sys.stderr):
        status = sys.stderr
    with Console(app, stdout, status=status, spinner_after=spinner_after) as console:
        await app.scheduler.start(app.outbound.channels)
        return await _piped(app, console, stdin, stdout)


async def _piped(app: App, console: Console, stdin: BinaryIO, stdout: TextIO) -> int:
    session = uuid.uuid4().hex
    failures = 0
    loop = asyncio.get_running_loop()
    number = 0
    while True:
        raw = await loop.run_in_executor(None, stdin.readline)
        if not raw:
            return failures
        number += 1
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            stdout.write(f"Line {number} is not valid UTF-8, so I ignored it; nothing was saved.\n")
            stdout.flush()
            failures += 1
            continue
        reply = await console.ask(_intent(app, session, number, text, console.last))
        failures += 0 if reply.ok else 1
        stdout.write(render(reply) + console.chart_note(reply) + "\n")
        stdout.flush()


async def run_interactive(
    app: App,
    read: Callable[[str], str] = input,
    write: TextIO = sys.stdout,
    *,
    spinner_after: float = SPINNER_AFTER,
) -> None:
    """A REPL. Ctrl-D, ``exit`` or ``quit`` ends it. A long turn shows the "thinking…" line when
    ``write`` is a terminal."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  - line editing and history for input()

    status = write if _is_terminal(write) else None
    with Console(app, write, prompt=PROMPT, status=status, spinner_after=spinner_after) as console:
        await app.scheduler.start(app.outbound.channels)
        await _interactive(app, console, read, write)


async def _interactive(app: App, console: Console, read: Callable[[str], str], write: TextIO) -> None:
    session = uuid.uuid4().hex
    write.write("SoloOS console — type help, or exit to leave.\n")
    loop = asyncio.get_running_loop()
    number = 0
    while True:
        try:
            text = await loop.run_in_executor(None, read, PROMPT)
        except (EOFError, KeyboardInterrupt):
            write.write("\n")
            return
        if text.strip().lower() in {"exit", "quit", ":q"}:
            return
        number += 1
        reply = await console.ask(_intent(app, session, number, text, console.last))
        write.write(render(reply) + console.chart_note(reply) + "\n\n")
        write.flush()
