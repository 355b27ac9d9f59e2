"""Messages per second, reply latency, errors and memory growth through the Telegram path.

    .venv/bin/python -m bench.telegram_load [--chats 20] [--messages 10]
    .venv/bin/python -m bench.telegram_load --chats 50 --messages 20      (issue #8's load test)

python-telegram-bot long-polls a local Bot API server (tests/support/telegram_server.py); every
message goes through the channel, the dispatcher, context assembly and the coordinator with a
scripted model that answers instantly. Latency is from the update being available to the
server to the bot's sendMessage for it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pydantic_ai.models.function import FunctionModel

from agents import ModelTiers
from bench.turn_overhead import _instant, percentile
from bot.app import open_app, quiet_libraries
from bot.settings import Settings
from bot.telegram import TelegramChannel
from tests.support.telegram_server import FakeTelegram


async def _paced(server: FakeTelegram, user: int, messages: int, every: float, pushed: dict[int, list[float]]) -> None:
    pace = random.Random(user)
    for m in range(messages):
        await asyncio.sleep(pace.uniform(0.5 * every, 1.5 * every))
        server.push_text(f"how is project {m} for chat {user} going", user_id=user)
        pushed[user].append(time.perf_counter())


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _errors(server: FakeTelegram) -> int:
    """Replies that report a failure on our side (the dispatcher's error replies)."""
    failures = ("Something went wrong", "can't reach my database", "couldn't do that")
    return sum(any(f in c["text"] for f in failures) for c in server.calls("sendMessage"))


def _latencies(server: FakeTelegram, pushed: dict[int, list[float]], skip: dict[int, int]) -> list[float]:
    result = []
    for user, times in pushed.items():
        answers = [c["at"] for c in server.calls("sendMessage") if int(c["chat_id"]) == user][skip.get(user, 0) :]
        result += [(a - p) * 1000 for a, p in zip(answers, times, strict=True)]
    return result


async def main(chats: int, messages: int, every: float) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-tg-"))
    server = FakeTelegram()
    await server.start()
    model = FunctionModel(_instant, model_name="instant")
    users = [1000 + n for n in range(chats)]
    try:
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_app(settings, tiers=ModelTiers(model, model)) as app:
            channel = TelegramChannel(app, token=server.token, api_url=server.url, allowed_users=frozenset(users))
            await channel.start()
            server.push_text("how is the warm-up going", user_id=users[0])
            await server.wait_for("sendMessage", 1, timeout=60)
            rss_before = _rss_mib()
            pushed: dict[int, list[float]] = {u: [] for u in users}
            began = time.perf_counter()
            for m in range(messages):
                for user in users:
                    server.push_text(f"how is project {m} for chat {user} going", user_id=user)
                    pushed[user].append(time.perf_counter())
            done = chats * messages + 1
            await server.wait_for("sendMessage", done, timeout=600)
            elapsed = time.perf_counter() - began
            burst = _latencies(server, pushed, {users[0]: 1})
            print(
                f"{chats} chats x {messages} messages sent at once: {(done - 1) / elapsed:5.1f} messages/s, "
                f"reply latency p50 {statistics.median(burst):6.0f} ms  p99 {percentile(burst, 99):6.0f} ms",
                flush=True,
            )

            skip = {u: len([c for c in server.calls("sendMessage") if int(c["chat_id"]) == u]) for u in users}
            paced: dict[int, list[float]] = {u: [] for u in users}
            began = time.perf_counter()
            await asyncio.gather(*(_paced(server, u, messages, every, paced) for u in users))
            await server.wait_for("sendMessage", done + chats * messages, timeout=600)
            elapsed = time.perf_counter() - began
            steady = _latencies(server, paced, skip)
            print(
                f"{chats} chats, one message every ~{every:.1f} s each: {chats * messages / elapsed:5.1f} messages/s, "
                f"reply latency p50 {statistics.median(steady):6.0f} ms  p99 {percentile(steady, 99):6.0f} ms"
            )
            print(
                f"errors: {_errors(server)} of {len(server.calls('sendMessage'))} replies; process memory "
                f"{rss_before:.0f} MiB after warm-up → {_rss_mib():.0f} MiB after {2 * chats * messages} messages "
                f"({os.cpu_count()} cores)"
            )
            await channel.stop()
    finally:
        await server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="mean seconds between one chat's messages (paced run)")
    args = parser.parse_args()
    print(
        f"conditions: {os.cpu_count()} cores, embedded PostgreSQL, local embedder, instant scripted model, "
        "long polling against a local Bot API server"
    )
    asyncio.run(main(args.chats, args.messages, args.every))
