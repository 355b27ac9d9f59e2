"""Learning's cost: reply latency with and without learning, and the size of mem0's extraction request.

    .venv/bin/python -m bench.learning [--turns 40]

Each turn goes the whole way a chat message goes, with a scripted model that answers instantly, once
with learning on (the message is queued in the turn's transaction) and once with it off; the worker is
not running during the turns (it runs after, so its model time cannot show in the replies). Then the
queued messages are learned from, through mem0's real prompt, and the request size is reported with
what it costs at two list prices (input tokens estimated at 4 characters a token).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelResponse, SystemPromptPart, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agents import ModelTiers
from bot.app import App, open_app, quiet_libraries, wire
from bot.intent import Intent
from bot.settings import Settings

PRICES = {"gpt-4o-mini ($0.15 / $0.60 per Mtok)": (0.15, 0.60), "claude-haiku-4-5 ($1 / $5 per Mtok)": (1.0, 5.0)}
OUTPUT_TOKENS = 60  # one or two "[fact: …] …" lines in mem0's JSON


def _model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    system = "".join(p.content for m in messages for p in getattr(m, "parts", []) if isinstance(p, SystemPromptPart))
    if "Memory Extractor" in system:
        answer = (
            '{"memory": [{"id": "0", "text": "[fact: client · payment] The client will pay about three weeks late."}]}'
        )
        size = sum(len(str(getattr(p, "content", ""))) for m in messages for p in getattr(m, "parts", []))
        return ModelResponse(parts=[TextPart(answer)], usage=RequestUsage(input_tokens=size // 4, output_tokens=60))
    return ModelResponse(
        parts=[TextPart("Noted; nothing to do.")], usage=RequestUsage(input_tokens=100, output_tokens=5)
    )


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _turn(app: App, label: str, turn: int) -> float:
    intent = Intent(
        workspace="bench",
        operator="op",
        channel="console",
        channel_user="op",
        conversation=f"bench:{label}",
        text=f"Client {turn} just told me they will pay invoice {turn} about three weeks late",
        idempotency_key=f"bench:{label}:{turn}:{time.time_ns()}",
    )
    began = time.perf_counter()
    reply = await app.dispatcher.handle(intent)
    assert reply.ok, reply.text
    return (time.perf_counter() - began) * 1000


async def main(turns: int) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-learning-"))
    model = FunctionModel(_model, model_name="scripted")
    tiers = ModelTiers(model, model)
    try:
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_app(settings, tiers=tiers) as app:
            off = wire(settings.model_copy(update={"learning": False}), app.memory, tiers=tiers)
            for turn in range(5):  # warm: the embedder, the pool, the caches
                await _turn(off, "warm", turn)
                await _turn(app, "warm-on", turn)
            results: dict[str, list[float]] = {"learning off": [], "learning on": []}
            for turn in range(turns):  # interleaved, so drift on a shared machine hits both alike
                results["learning off"].append(await _turn(off, "off", turn))
                results["learning on"].append(await _turn(app, "on", turn))
            print(f"reply latency, {turns} turns each, interleaved (scripted model: no model time):")
            for label, values in results.items():
                print(f"  {label:13} p50 {statistics.median(values):6.1f} ms   p95 {percentile(values, 95):6.1f} ms")
            assert app.learning is not None and app.learning.rounds is not None
            rounds = app.learning.rounds
            learner = rounds.learner
            began = time.perf_counter()
            handled = await rounds.tick(limit=1)
            took = (time.perf_counter() - began) * 1000
            prompts = getattr(learner, "last_prompts", [])
            size = len(prompts[0]) if prompts else 0
            tokens = size // 4
            print(f"one extraction ({handled} message): {took:.0f} ms without model time")
            print(f"  mem0 request: {size:,} characters ≈ {tokens:,} input tokens + ~{OUTPUT_TOKENS} output tokens")
            for name, (per_in, per_out) in PRICES.items():
                cost = (tokens * per_in + OUTPUT_TOKENS * per_out) / 1_000_000
                print(f"  at {name}: ${cost:.5f} per extraction, ${cost * 1000:.2f} per 1,000 messages")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    asyncio.run(main(parser.parse_args().turns))
