"""End-to-end turn overhead excluding model time, and memory context size vs history length.

    .venv/bin/python -m bench.turn_overhead [--turns 200] [--concurrency 1 20]

Each turn goes the whole way a chat message goes — dispatcher, idempotency claim, context
assembly (recall with a real embedding), coordinator run, spend ledger, cache, reply log — with a
scripted model that answers instantly, so what is measured is SoloOS's own overhead.
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

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agents import ModelTiers
from agents.context import build_context
from bot.app import App, open_app, quiet_libraries
from bot.intent import Intent
from bot.settings import Settings


def _instant(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("Noted; nothing to do.")])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _conversation(app: App, number: int, turns: int, latencies: list[float], think: float = 0.0) -> None:
    pace = random.Random(number)
    for turn in range(turns):
        if think:
            await asyncio.sleep(pace.uniform(0.5 * think, 1.5 * think))
        intent = Intent(
            workspace="bench",
            operator=f"op{number}",
            channel="console",
            channel_user=f"op{number}",
            conversation=f"bench:{number}",
            text=f"how is the {turn}th project for client {number} going",
            idempotency_key=f"bench:{number}:{turn}:{time.time_ns()}",
        )
        began = time.perf_counter()
        reply = await app.dispatcher.handle(intent)
        latencies.append((time.perf_counter() - began) * 1000)
        assert reply.ok, reply.text


async def main(turns: int, levels: list[int], think: float) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-turns-"))
    model = FunctionModel(_instant, model_name="instant")
    try:
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_app(settings, tiers=ModelTiers(model, model)) as app:
            for i in range(200):
                await app.memory.remember(
                    f"Client {i} prefers e-mail and pays within {i % 60} days", layer="project", workspace="bench"
                )
            await _conversation(app, 999, 5, [])  # warm up
            runs = [(level, 0.0) for level in levels] + [(level, think) for level in levels if level > 1 and think]
            for level, pause in runs:
                latencies: list[float] = []
                per = max(1, turns // level)
                began = time.perf_counter()
                await asyncio.gather(*(_conversation(app, n, per, latencies, pause) for n in range(level)))
                elapsed = time.perf_counter() - began
                pace = f"one message every ~{pause:.1f} s each" if pause else "back to back (saturation)"
                print(
                    f"{level:>3} conversations, {pace}, {len(latencies)} turns: "
                    f"p50 {statistics.median(latencies):6.1f} ms  p99 {percentile(latencies, 99):6.1f} ms  "
                    f"throughput {len(latencies) / elapsed:6.1f} turns/s",
                    flush=True,
                )
            print(f"memory context per turn vs conversation length (budget {settings.context_token_budget} tokens):")
            for history in (0, 10, 100, 1000):
                conversation = f"history:{history}"
                for t in range(history):
                    await app.memory.conversations.claim(f"h:{history}:{t}", workspace="bench")
                    await app.memory.conversations.complete(
                        f"h:{history}:{t}",
                        workspace="bench",
                        conversation=conversation,
                        operator_text=f"message {t} about the client projects and invoices",
                        reply={"text": "ok"},
                    )
                context = await build_context(
                    app.memory,
                    workspace="bench",
                    conversation=conversation,
                    message="what did client 7 say about invoices",
                    budget_tokens=settings.context_token_budget,
                )
                print(f"  {history:>5} earlier turns → {context.tokens} tokens of context")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between one operator's messages")
    args = parser.parse_args()
    print(
        f"conditions: {os.cpu_count()} cores, embedded PostgreSQL, local embedder, instant scripted model, "
        "200 memories in the workspace"
    )
    asyncio.run(main(args.turns, args.concurrency, args.think))
