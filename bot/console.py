"""The console channel: a REPL on a terminal, one reply per line when stdin is piped."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from typing import BinaryIO, TextIO

from bot.app import App
from bot.intent import Intent, Reply

PROMPT = "you › "


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


class Console:
    """The terminal as an outbound channel: reminders and briefings print as they fire, and their
    choices can be picked by number like any reply's."""

    def __init__(self, app: App, write: TextIO, *, prompt: str = "") -> None:
        self.app = app
        self.write = write
        self.prompt = prompt
        self.last: Reply | None = None

    async def send(self, _target: str, reply: Reply) -> None:
        self.last = reply
        self.write.write(f"\n{render(reply)}{self.chart_note(reply)}\n\n{self.prompt}")
        self.write.flush()

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


async def run_piped(app: App, stdin: BinaryIO, stdout: TextIO) -> int:
    """Read one message per line, print one reply per message, stop at EOF. Returns failures."""
    with Console(app, stdout) as console:
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
        reply = await app.dispatcher.handle(_intent(app, session, number, text, console.last))
        console.last = reply
        failures += 0 if reply.ok else 1
        stdout.write(render(reply) + console.chart_note(reply) + "\n")
        stdout.flush()


async def run_interactive(app: App, read: Callable[[str], str] = input, write: TextIO = sys.stdout) -> None:
    """A REPL. Ctrl-D, ``exit`` or ``quit`` ends it."""
    import contextlib

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  - line editing and history for input()

    with Console(app, write, prompt=PROMPT) as console:
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
        reply = await app.dispatcher.handle(_intent(app, session, number, text, console.last))
        console.last = reply
        write.write(render(reply) + console.chart_note(reply) + "\n\n")
        write.flush()
