"""``python -m tests.support.scripted_chat``: the console assistant with a scripted model instead of a
provider, reading messages from stdin. Used to crash a real process mid-conversation."""

from __future__ import annotations

import asyncio
import sys

from bot.app import open_app
from bot.console import run_piped
from bot.settings import Settings
from tests.support.models import Script, call, last_tool_result


def _send(messages):  # type: ignore[no-untyped-def]
    from pydantic_ai.messages import ModelResponse, ToolCallPart

    subject, _, body = last_tool_result(messages).partition("\n\n")
    args = {"to": "jane@acme.test", "subject": subject.removeprefix("Subject: "), "body": body}
    return ModelResponse(parts=[ToolCallPart("send_email", args)])


async def main() -> int:
    script = Script([call("ask_drafting", instructions="reminder to Acme about invoice 42"), _send])
    async with open_app(Settings(), tiers=script.tiers()) as app:
        return await run_piped(app, sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main()) else 0)
