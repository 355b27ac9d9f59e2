"""Feedback while waiting (issue 16): turns of 100–228 s showed nothing while the operator waited.

A slow scripted model (it sleeps a small, chosen time) and tiny thresholds stand in for the long
turns: the console shows a "thinking…" line with what is happening and clears it before the reply;
Telegram keeps "typing…" alive for the whole turn and stops it on every way out; Slack posts one
interim message for a slow turn (none for a fast one), updated with progress, and deletes it after
the reply, which still comes from the outbox."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from telegram import Update

from agents import ModelTiers
from bot.app import App
from bot.console import CLEAR, Console, _interactive, _is_terminal, _piped
from bot.intent import Intent, Reply
from bot.slack import SlackChannel
from bot.telegram import TelegramChannel
from tests.support.chat import scoped
from tests.support.models import CATALOGUE_WINDOW
from tests.support.slack_server import SIGNING_SECRET, FakeSlack, command_body, post_signed
from tests.support.telegram_server import FakeTelegram

ANSWER = "Acme pays in 30 days."
RESEARCH = "Research is looking into it…"
OWNER_TELEGRAM = 111
OWNER_SLACK = "UOWNER"


@dataclass
class Slow:
    """A coordinator that thinks ``think`` seconds, asks the research specialist (who takes
    ``research`` seconds; None: no specialist), then answers."""

    think: float = 0.0
    research: float | None = 0.5

    def tiers(self) -> ModelTiers:
        model = FunctionModel(self, model_name="slow")  # a catalogue model's window: every tool offered
        return ModelTiers(fast=model, strong=model, fast_context=CATALOGUE_WINDOW, strong_context=CATALOGUE_WINDOW)

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not any(tool.name == "send_email" for tool in info.function_tools):  # a specialist
            await asyncio.sleep(self.research or 0)
            return ModelResponse(parts=[TextPart("Acme pays net 30.")])
        asked = any(isinstance(part, ToolReturnPart) for message in messages for part in message.parts)
        await asyncio.sleep(0 if asked else self.think)
        if self.research is not None and not asked:
            return ModelResponse(parts=[ToolCallPart("ask_research", {"question": "How does Acme pay?"})])
        return ModelResponse(parts=[TextPart(ANSWER)])


class Terminal(io.StringIO):
    """What the console writes, as a terminal would get it."""

    def isatty(self) -> bool:
        return True


def visible(raw: str) -> str:
    """What a terminal shows for ``raw``: carriage returns go back, ``ESC[2K`` erases the line."""
    lines: list[str] = []
    line = ""
    cursor = 0
    index = 0
    while index < len(raw):
        if raw.startswith("\x1b[2K", index):
            line, index = "", index + 4
            continue
        char = raw[index]
        index += 1
        if char == "\r":
            cursor = 0
        elif char == "\n":
            lines.append(line)
            line, cursor = "", 0
        else:
            line = line[:cursor] + char + line[cursor + 1 :]
            cursor += 1
    return "\n".join([*lines, line])


def _reader(*lines: str):  # type: ignore[no-untyped-def]
    queued = list(lines)

    def read(_prompt: str) -> str:
        if not queued:
            raise EOFError
        return queued.pop(0)

    return read


# -- console --------------------------------------------------------------------------------


async def test_the_console_shows_what_a_slow_turn_does_and_clears_it_before_the_reply(with_model, workspace) -> None:  # type: ignore[no-untyped-def]
    app = scoped(with_model(Slow(think=0.4, research=0.6)), workspace)
    screen = Terminal()
    with Console(app, screen, status=screen, spinner_after=0.05) as console:
        await _interactive(app, console, _reader("tell me a long story"), screen)
    raw = screen.getvalue()
    assert "Thinking…" in raw and RESEARCH in raw, "the line said what was happening"
    assert raw.index("Thinking…") < raw.index(RESEARCH) < raw.index(ANSWER)
    assert raw.rindex(CLEAR) < raw.index(ANSWER), "the line was erased before the reply"
    assert visible(raw) == f"SoloOS console — type help, or exit to leave.\n{ANSWER}\n\n\n"


async def test_a_fast_turn_shows_no_thinking_line(app: App, workspace: str) -> None:
    scoped_app = scoped(app, workspace)
    screen = Terminal()
    with Console(scoped_app, screen, status=screen, spinner_after=0.5) as console:
        await _interactive(scoped_app, console, _reader("tasks"), screen)
    raw = screen.getvalue()
    assert CLEAR not in raw and "Thinking" not in raw
    assert raw == 'SoloOS console — type help, or exit to leave.\nNo open tasks. Add one with "add task …".\n\n\n'


async def test_piped_output_stays_exactly_the_replies(with_model, workspace) -> None:  # type: ignore[no-untyped-def]
    app = scoped(with_model(Slow(think=0.3, research=0.3)), workspace)
    stdout, status = io.StringIO(), Terminal()
    with Console(app, stdout, status=status, spinner_after=0.05) as console:
        failures = await _piped(app, console, io.BytesIO(b"tell me a long story\n"), stdout)
    assert failures == 0
    assert stdout.getvalue() == f"{ANSWER}\n", "nothing but the reply on stdout"
    assert RESEARCH in status.getvalue() and visible(status.getvalue()) == "", "the terminal's line is erased"


def test_a_terminal_that_cannot_erase_a_line_gets_no_thinking_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _is_terminal(Terminal()) and not _is_terminal(io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not _is_terminal(Terminal())


# -- telegram -------------------------------------------------------------------------------


async def _telegram(app: App, server: FakeTelegram, **timing: float) -> TelegramChannel:
    channel = TelegramChannel(
        app, token=server.token, api_url=server.url, allowed_users=frozenset({OWNER_TELEGRAM}), **timing
    )
    await channel.start()
    return channel


def _methods(server: FakeTelegram) -> list[str]:
    return [call["method"] for call in server.sent]


async def test_telegram_keeps_typing_alive_for_a_long_turn_and_stops_after_the_reply(  # type: ignore[no-untyped-def]
    with_model, telegram: FakeTelegram, workspace
) -> None:
    app = scoped(with_model(Slow(think=0.8, research=None)), workspace)
    channel = await _telegram(app, telegram, typing_after=0.05, typing_every=0.1, interim_after=0.05)
    try:
        telegram.push_text("tell me a long story")
        [reply] = await telegram.wait_for("sendMessage", 1)
        after_reply = len(telegram.calls("sendChatAction"))
        await asyncio.sleep(0.4)  # long enough for several more if it were still running
    finally:
        await channel.stop()
    assert reply["text"] == ANSWER, "no interim message: this turn had no progress lines"
    assert after_reply >= 4, "typing… was renewed all through the turn, not sent once"
    assert len(telegram.calls("sendChatAction")) == after_reply, "and stopped with the reply"
    methods = _methods(telegram)
    last_typing = max(n for n, m in enumerate(methods) if m == "sendChatAction")
    assert last_typing < methods.index("sendMessage")


async def test_telegram_shows_a_specialist_at_work_in_one_interim_message_deleted_after_the_reply(  # type: ignore[no-untyped-def]
    with_model, telegram: FakeTelegram, workspace
) -> None:
    from tests.agents.test_coordinator import _rows

    app = scoped(with_model(Slow(think=0.1, research=0.6)), workspace)
    channel = await _telegram(app, telegram, typing_after=0.05, typing_every=0.1, interim_after=0.05)
    try:
        telegram.push_text("tell me a long story")
        sent = await telegram.wait_for("sendMessage", 2)
        [deleted] = await telegram.wait_for("deleteMessage", 1)
    finally:
        await channel.stop()
    interim, reply = sent
    assert interim["text"] == f"Working on it…\n• {RESEARCH}"
    assert reply["text"] == ANSWER
    assert int(deleted["message_id"]) == int(interim["message_id"]), "the interim message went once the reply was out"
    methods = _methods(telegram)
    assert methods.index("deleteMessage") > max(n for n, m in enumerate(methods) if m == "sendMessage")
    assert "sendChatAction" in methods[methods.index("sendMessage") + 1 :], "typing… again after the interim message"
    [row] = _rows(app, "SELECT payload FROM channel_outbox WHERE workspace = %s", workspace)
    assert row[0]["reply"]["text"] == ANSWER, "the reply is the outbox row; the interim message is not"


class _Failing:
    async def handle(self, intent: Intent) -> Reply:
        await asyncio.sleep(0.4)
        raise RuntimeError("the turn broke")


class _Stuck:
    async def handle(self, intent: Intent) -> Reply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def _typing_stops(server: FakeTelegram, done: asyncio.Future[Any]) -> None:
    await server.wait_for("sendChatAction", 2)
    await asyncio.wait({done}, timeout=5)
    count = len(server.calls("sendChatAction"))
    await asyncio.sleep(0.4)
    assert len(server.calls("sendChatAction")) == count, "no typing… after the turn ended"


async def test_telegram_typing_stops_when_the_turn_fails(app: App, telegram: FakeTelegram, workspace: str) -> None:
    failing = dataclasses.replace(scoped(app, workspace), dispatcher=_Failing())  # type: ignore[arg-type]
    channel = await _telegram(failing, telegram, typing_after=0.05, typing_every=0.1)
    try:
        update = Update.de_json(telegram.text_update("tell me a long story"), channel.application.bot)
        turn = asyncio.ensure_future(channel._handle(OWNER_TELEGRAM, update, channel._intent(update, "story")))
        await _typing_stops(telegram, turn)
        with pytest.raises(RuntimeError):
            turn.result()
    finally:
        await channel.stop()


async def test_telegram_typing_stops_when_the_turn_is_cancelled(
    app: App, telegram: FakeTelegram, workspace: str
) -> None:
    stuck = dataclasses.replace(scoped(app, workspace), dispatcher=_Stuck())  # type: ignore[arg-type]
    channel = await _telegram(stuck, telegram, typing_after=0.05, typing_every=0.1)
    try:
        update = Update.de_json(telegram.text_update("tell me a long story"), channel.application.bot)
        turn = asyncio.ensure_future(channel._handle(OWNER_TELEGRAM, update, channel._intent(update, "story")))
        await telegram.wait_for("sendChatAction", 2)
        turn.cancel()
        await _typing_stops(telegram, turn)
        assert turn.cancelled()
    finally:
        await channel.stop()


# -- slack ----------------------------------------------------------------------------------


async def _slack(app: App, server: FakeSlack, *, interim_after: float | None) -> SlackChannel:
    channel = SlackChannel(
        app,
        bot_token=f"xoxb-test-{uuid.uuid4().hex}",
        signing_secret=SIGNING_SECRET,
        api_url=server.url,
        allowed=frozenset({OWNER_SLACK}),
        interim_after=interim_after,
    )
    await channel.start()
    return channel


async def test_slack_shows_an_interim_message_for_a_slow_turn_and_deletes_it_after_the_reply(  # type: ignore[no-untyped-def]
    with_model, slack: FakeSlack, workspace
) -> None:
    from tests.agents.test_coordinator import _rows

    app = scoped(with_model(Slow(think=0.3, research=0.6)), workspace)
    app = dataclasses.replace(app, settings=app.settings.model_copy(update={"slack_interim_seconds": 0.05}))
    channel = await _slack(app, slack, interim_after=None)  # SOLOOS_SLACK_INTERIM_SECONDS
    try:
        status, seconds = await post_signed(channel.http_url, command_body("tell me a long story", user=OWNER_SLACK))
        assert status == 200 and seconds < 1, "the slash command is acknowledged before the slow work"
        [deleted] = await slack.wait_for("chat.delete", 1)
    finally:
        await channel.stop()
    interim, reply = slack.of("chat.postMessage")
    shown = [interim["text"], *(u["text"] for u in slack.of("chat.update"))]
    assert shown[0].startswith("Working on it…") and shown[-1] == f"Working on it…\n• {RESEARCH}"
    assert all(u["ts"] == deleted["ts"] for u in slack.of("chat.update")), "one message, edited in place"
    assert reply["text"] == ANSWER and reply["blocks"], "the reply comes as before"
    methods = [c["method"] for c in slack.calls]
    assert methods.index("chat.delete") == len(methods) - 1, "deleted after the reply arrived"
    [row] = _rows(app, "SELECT payload FROM channel_outbox WHERE workspace = %s", workspace)
    assert row[0]["reply"]["text"] == ANSWER, "the reply is the outbox row; the interim message is not"


async def test_slack_posts_no_interim_message_for_a_fast_turn(app: App, slack: FakeSlack, workspace: str) -> None:
    channel = await _slack(scoped(app, workspace), slack, interim_after=1.5)
    try:
        await post_signed(channel.http_url, command_body("tasks", user=OWNER_SLACK))
        await slack.wait_for("chat.postMessage", 1)
        await asyncio.sleep(0.3)  # (an interim message could only have come before the reply)
    finally:
        await channel.stop()
    assert [c["method"] for c in slack.calls] == ["chat.postMessage"]
    assert slack.of("chat.postMessage")[0]["text"].startswith("No open tasks.")
