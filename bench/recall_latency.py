"""Recall latency at 10k and 100k memories, and import throughput on the way there.

    .venv/bin/python -m bench.recall_latency [--sizes 10000 100000] [--queries 200] [--sessions]

Loads memories through ``import_jsonl`` (the real path: embed in batches, insert with the HNSW
and full-text indexes live), then times ``recall`` end to end (query embedding + SQL) and the SQL
alone (query vectors precomputed), after a checkpoint has flushed what the import wrote: once in
the importing process, once in a fresh process on the same database (as the assistant recalls after
``soloos memory import``). Prints the conditions with the figures.

``--sessions`` imports the same memories as chat sessions of 20 turns, so every turn but the first
of each is embedded with the turn it answers (about twice the words to embed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.dataset import filler
from bench.turn_overhead import percentile
from bot.app import quiet_libraries
from bot.settings import Settings
from memory import MemoryService, open_memory

QUERIES = [
    "how fast does {c} pay invoices",
    "what did we agree with {c} about the deadline",
    "{c} contact person email",
    "overdue invoice {c}",
    "notes from the last call with {c}",
    "day rate for {c}",
    "what does {c} want changed in the design",
    "when is the next milestone for {c}",
]
CLIENTS = ["Maple Coffee", "Onyx Legal", "Quartz Studio", "Sable Yoga", "Nimbus Foods", "Rowan Clinic"]


SESSION_TURNS = 20


async def _load(
    memory: MemoryService, workdir: Path, count: int, start: int, sessions: bool = False
) -> tuple[int, float]:
    path = workdir / f"batch-{start}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, item in enumerate(filler(count, seed=start + 11)):
            item["text"] = f"{item['text']} #{start + i}"
            if sessions:
                item["metadata"] = dict(item.get("metadata") or {}, session=(start + i) // SESSION_TURNS)
            out.write(json.dumps(item) + "\n")
    began = time.perf_counter()
    report = await memory.import_jsonl(path, workspace="bench")
    elapsed = time.perf_counter() - began
    assert not report.problems, report.problems[:3]
    return report.imported, elapsed


async def _time_recall(memory: MemoryService, n: int) -> dict[str, float]:
    queries = [QUERIES[i % len(QUERIES)].format(c=CLIENTS[i % len(CLIENTS)]) for i in range(n)]
    vectors = memory.embedder.embed_many(queries)
    await memory.recall(queries[0], workspace="bench")  # warm the pool and caches
    total, sql = [], []
    for query, vector in zip(queries, vectors, strict=True):
        began = time.perf_counter()
        await memory.recall(query, workspace="bench", k=10)
        total.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        memory._recall_sync(query, vector, "bench", 10, ["working", "project", "institutional"], None, None, "hybrid")
        sql.append((time.perf_counter() - began) * 1000)
    return {
        "recall_p50_ms": statistics.median(total),
        "recall_p95_ms": percentile(total, 95),
        "sql_p50_ms": statistics.median(sql),
        "sql_p95_ms": percentile(sql, 95),
    }


def _time_in_fresh_process(home: Path, queries: int) -> dict[str, float]:
    """Recall timed by a new process on the same database: how the product runs, where the import is
    ``soloos memory import`` and recall happens in the assistant's own process."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.recall_latency", "--time-home", str(home), "--queries", str(queries)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


async def _time_only(home: Path, queries: int) -> None:
    quiet_libraries()
    settings = Settings(home=home, _env_file=None, database_url=os.environ.get("DATABASE_URL"))  # type: ignore[call-arg]
    async with open_memory(settings) as memory:
        memory.embedder.embed("warm up")
        print(json.dumps(await _time_recall(memory, queries)))


def _settle(memory: MemoryService) -> None:
    """Flush the import's writes before timing recall: otherwise the checkpointer writes them out
    while recall is timed, and that is the import's cost, not recall's."""
    with memory.db.connection() as conn:
        conn.execute("CHECKPOINT")


async def main(sizes: list[int], queries: int, sessions: bool = False) -> list[dict[str, float]]:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-bench-"))
    results = []
    try:
        settings = Settings(home=home, _env_file=None, database_url=os.environ.get("DATABASE_URL"))  # type: ignore[call-arg]
        async with open_memory(settings) as memory:
            memory.embedder.embed("warm up")  # model loading is cold start, measured by bench.cold_start
            print(f"            imports embedded in {memory.embedder.bulk_precision}, queries in float32", flush=True)
            loaded = 0
            for size in sorted(sizes):
                added, seconds = await _load(memory, home, size - loaded, loaded, sessions)
                loaded += added
                figures = {"memories": float(loaded), "import_per_s": added / seconds}
                _settle(memory)
                figures |= await _time_recall(memory, queries)
                results.append(figures)
                print(
                    f"{loaded:>7,} memories | import {figures['import_per_s']:6.0f}/s | "
                    f"recall p50 {figures['recall_p50_ms']:5.1f} ms p95 {figures['recall_p95_ms']:5.1f} ms | "
                    f"SQL only p50 {figures['sql_p50_ms']:5.1f} ms p95 {figures['sql_p95_ms']:5.1f} ms "
                    "(in the importing process)",
                    flush=True,
                )
                fresh = _time_in_fresh_process(home, queries)
                results.append({"memories": float(loaded), "fresh_process": 1.0} | fresh)
                print(
                    f"{loaded:>7,} memories |                | "
                    f"recall p50 {fresh['recall_p50_ms']:5.1f} ms p95 {fresh['recall_p95_ms']:5.1f} ms | "
                    f"SQL only p50 {fresh['sql_p50_ms']:5.1f} ms p95 {fresh['sql_p95_ms']:5.1f} ms "
                    "(a fresh process, as `soloos run` after `soloos memory import`)",
                    flush=True,
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sessions", action="store_true", help="import as chat sessions of 20 turns")
    parser.add_argument("--time-home", type=Path, help=argparse.SUPPRESS)  # the fresh process's run
    args = parser.parse_args()
    if args.time_home:
        asyncio.run(_time_only(args.time_home, args.queries))
        sys.exit(0)
    print(f"conditions: {os.cpu_count()} cores, local all-MiniLM-L6-v2 embedder, embedded PostgreSQL 18 + pgvector,")
    print(
        f"            HNSW (cosine) + GIN full text (BM25-like, context), fusion by rank and score, k=10, "
        f"{args.queries} queries per size, timed after a checkpoint that flushes the import's writes"
    )
    if args.sessions:
        print(f"            imported as chat sessions of {SESSION_TURNS} turns (a turn embedded with the one before)")
    asyncio.run(main(args.sizes, args.queries, args.sessions))
