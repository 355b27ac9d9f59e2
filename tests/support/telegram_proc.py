"""``python -m tests.support.telegram_proc``: ``soloos run`` serving its chat channels, with a scripted
model instead of a provider. Settings come from the environment (SOLOOS_HOME, SOLOOS_TELEGRAM_TOKEN,
SOLOOS_TELEGRAM_API_URL, SOLOOS_TELEGRAM_ALLOWED_USERS, and for Slack alongside SOLOOS_SLACK_BOT_TOKEN,
SOLOOS_SLACK_SIGNING_SECRET, SOLOOS_SLACK_API_URL, SOLOOS_SLACK_HTTP_PORT …). Like ``soloos run`` it
starts every configured channel and the scheduler (``bot.channels.open_channels``), the connector
sync and the plan worker. It prints ``ready`` once it serves, and stops cleanly on SIGTERM. Used by
the crash harness (bench/crash.py) to ``kill -9`` a real serving process.

The script: a message starting with "send" makes the coordinator call ``send_email`` to
``<second word>@example.test`` (the policy turns that into an approval with buttons); any other
message gets a short text answer that repeats the message's last word, so a reply names its message.
With CRASH_MODEL_DELAY="low,high" each answer takes a random low–high seconds, as a real model's does.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agents import ModelTiers
from bot.app import open_app
from bot.channels import open_channels
from bot.settings import Settings
from bot.supervisor import supervisor_for, until_stopped
from tests.support.models import CATALOGUE_WINDOW


def _last_prompt(messages: list[ModelMessage]) -> tuple[str, bool]:
    """The operator's message of this turn, and whether a tool already answered after it."""
    prompt, answered = "", False
    for message in messages:
        for part in message.parts:
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                prompt, answered = part.content, False
            elif isinstance(message, ModelRequest) and not isinstance(part, UserPromptPart):
                answered = True
    return prompt, answered


def _thinking() -> tuple[float, float]:
    """CRASH_MODEL_DELAY="0.3,1.5": the scripted model takes that many seconds per answer, as a real
    one does, so a kill finds turns in flight; unset: it answers at once."""
    low, _, high = os.environ.get("CRASH_MODEL_DELAY", "0").partition(",")
    return float(low), float(high or low)


async def thinking(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    await asyncio.sleep(random.uniform(*_thinking()))
    return scripted(messages, info)


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompt, answered = _last_prompt(messages)
    words = prompt.split()
    is_coordinator = any(tool.name == "send_email" for tool in info.function_tools)
    if is_coordinator and not answered and len(words) > 1 and words[0].lower() == "send":
        token = words[1]
        args = {"to": f"{token}@example.test", "subject": f"note {token}", "body": f"Hello {token}, a short note."}
        return ModelResponse(parts=[ToolCallPart("send_email", args)])
    return ModelResponse(parts=[TextPart(f"Reply {words[-1] if words else ''}: noted, nothing to do.")])


async def main() -> None:
    settings = Settings()
    model = FunctionModel(thinking, model_name="scripted")
    assert settings.telegram_token is not None or settings.slack_bot_token is not None, "configure a channel"
    tiers = ModelTiers(model, model, CATALOGUE_WINDOW, CATALOGUE_WINDOW)  # every tool offered, as on a catalogue model
    async with open_app(settings, tiers=tiers) as app, open_channels(app):
        await app.syncer.start()
        await app.plans.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        supervisor = supervisor_for(app)  # as `soloos run`: the embedded database, started again if it dies
        if supervisor is not None:
            await supervisor.start()
        print("ready", flush=True)
        try:
            await until_stopped(stop, supervisor)
        finally:
            if supervisor is not None:
                await supervisor.stop()


if __name__ == "__main__":
    asyncio.run(main())
