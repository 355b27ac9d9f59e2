"""A serving process for the replica tests: it competes for the scheduler of the "test" channel and
delivers by appending one JSON line per message to the file named on the command line.

    python -m tests.support.scheduler_proc OUT.jsonl     (settings from the environment)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from bot.app import open_app
from bot.intent import Reply
from bot.settings import Settings


async def main(out: Path) -> None:
    async with open_app(Settings()) as app:

        async def send(target: str, reply: Reply) -> None:
            line = {"pid": os.getpid(), "target": target, "text": reply.text, "at": time.time()}
            with out.open("a") as file:
                file.write(json.dumps(line) + "\n")

        app.outbound.register("test", send)
        await app.scheduler.start(["test"])
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
