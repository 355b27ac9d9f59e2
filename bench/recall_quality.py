"""Recall quality of the memory store: dense-only vs hybrid recall on a labelled synthetic history.

Loads ``bench.dataset.generate`` into a throwaway embedded Postgres, asks every labelled question
in both modes (k=10) and reports recall@5, recall@10 (share of questions with any answer in the
top k) and MRR, overall, per question style and per kind of fact. Run from the repository root::

    .venv/bin/python -m bench.recall_quality [--seed 7] [--memories 2400] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median
from typing import Any

from bench.dataset import Memory, Question, generate
from bot.app import quiet_libraries
from bot.settings import Settings
from memory import MemoryService, open_memory
from memory._memory_types import RecallMode

MODES: tuple[RecallMode, ...] = ("dense", "hybrid")
K = 10
WORKSPACE = "bench"
STYLES = ("semantic", "exact", "entity")


@dataclass(frozen=True)
class Outcome:
    """How one question fared in one mode."""

    style: str
    kind: str
    rank: int | None  # 1-based rank of the first answering memory within the top K
    seconds: float


def first_answer_rank(hit_keys: Sequence[str | None], answers: Iterable[str]) -> int | None:
    wanted = set(answers)
    return next((rank for rank, key in enumerate(hit_keys, start=1) if key in wanted), None)


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float]:
    ranks = [o.rank for o in outcomes]
    return {
        "n": len(outcomes),
        "recall@5": mean(r is not None and r <= 5 for r in ranks),
        "recall@10": mean(r is not None for r in ranks),
        "mrr": mean(1 / r if r else 0.0 for r in ranks),
        "median_ms": 1000 * median(o.seconds for o in outcomes),
    }


def group_summaries(results: dict[str, list[Outcome]], attribute: str) -> dict[str, dict[str, dict[str, float]]]:
    """``{group: {mode: summary}}`` with groups given by an ``Outcome`` attribute."""
    groups = sorted({getattr(o, attribute) for outcomes in results.values() for o in outcomes})
    return {
        group: {
            mode: summarize([o for o in outcomes if getattr(o, attribute) == group])
            for mode, outcomes in results.items()
        }
        for group in groups
    }


async def ask(memory: MemoryService, question: Question, mode: RecallMode) -> Outcome:
    started = time.perf_counter()
    hits = await memory.recall(question["question"], workspace=WORKSPACE, k=K, mode=mode)
    elapsed = time.perf_counter() - started
    rank = first_answer_rank([hit.metadata.get("key") for hit in hits], question["answers"])
    return Outcome(question["style"], question["kind"], rank, elapsed)


async def ask_all(memory: MemoryService, questions: Sequence[Question]) -> dict[str, list[Outcome]]:
    """Every question in every mode, one at a time (so latencies are not contended)."""
    return {mode: [await ask(memory, q, mode) for q in questions] for mode in MODES}


def write_jsonl(memories: Iterable[Memory], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in memories:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


async def run(seed: int, n_memories: int) -> dict[str, Any]:
    """Build the store, ask every question in every mode, and return conditions and figures."""
    memories, questions = generate(seed=seed, n_memories=n_memories)
    home = Path(tempfile.mkdtemp(prefix="soloos-recall-bench-"))
    try:
        jsonl = home / "history.jsonl"
        write_jsonl(memories, jsonl)
        # database_url=None: never touch a real database named by DATABASE_URL in the environment
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_memory(settings) as memory:
            started = time.perf_counter()
            await asyncio.to_thread(memory.embedder.embed, "warm-up")  # waits for the model to load
            load_seconds = time.perf_counter() - started
            report = await memory.import_jsonl(jsonl, workspace=WORKSPACE)
            import_seconds = time.perf_counter() - started - load_seconds
            results = await ask_all(memory, questions)
            stored = await memory.count(WORKSPACE)
            embedder = memory.embedder.description
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "conditions": {
            "memories": stored,
            "generated": len(memories),
            "imported": report.imported,
            "duplicates": report.duplicates,
            "problems": [f"line {p.line}: {p.message}" for p in report.problems],
            "embedder_load_seconds": round(load_seconds, 1),
            "import_seconds": round(import_seconds, 1),
            "questions": len(questions),
            "questions_by_style": {style: sum(q["style"] == style for q in questions) for style in STYLES},
            "embedder": embedder,
            "cpu_count": os.cpu_count(),
            "seed": seed,
            "k": K,
        },
        "overall": {mode: summarize(outcomes) for mode, outcomes in results.items()},
        "by_style": group_summaries(results, "style"),
        "by_kind": group_summaries(results, "kind"),
    }


# -- output ---------------------------------------------------------------------------------------

_METRICS = ("recall@5", "recall@10", "mrr")


def _header(label: str) -> list[str]:
    cells = "".join(f"{'R@5':>7}{'R@10':>7}{'MRR':>7}{'ms':>6}" for _ in MODES)
    modes = "".join(f"{mode:^27}" for mode in MODES)
    return [f"{'':<17}{modes}".rstrip(), f"{label:<12}{'n':>5}{cells}{'ΔMRR':>8}"]


def _row(name: str, by_mode: dict[str, dict[str, float]]) -> str:
    cells = "".join(
        "".join(f"{by_mode[mode][metric]:>7.3f}" for metric in _METRICS) + f"{by_mode[mode]['median_ms']:>6.0f}"
        for mode in MODES
    )
    delta = by_mode["hybrid"]["mrr"] - by_mode["dense"]["mrr"]
    return f"{name:<12}{by_mode[MODES[0]]['n']:>5.0f}{cells}{delta:>+8.3f}"


def render(report: dict[str, Any]) -> str:
    c = report["conditions"]
    styles = ", ".join(f"{style} {count}" for style, count in c["questions_by_style"].items())
    lines = [
        f"Recall quality: dense vs hybrid recall, k={c['k']}",
        f"  memories   {c['memories']} stored ({c['imported']} imported, {c['duplicates']} duplicates, "
        f"{len(c['problems'])} problems; import {c['import_seconds']} s)",
        f"  questions  {c['questions']} ({styles})",
        f"  embedder   {c['embedder']} (loaded in {c['embedder_load_seconds']} s)",
        f"  cpu_count  {c['cpu_count']}   seed {c['seed']}",
        "",
        *_header("style"),
        _row("overall", report["overall"]),
        *(_row(style, by_mode) for style, by_mode in report["by_style"].items()),
        "",
        *_header("fact kind"),
        *(_row(kind, by_mode) for kind, by_mode in report["by_kind"].items()),
        "",
        "R@k: share of questions with an answering memory in the top k; MRR over the top 10;",
        "ms: median recall latency; ΔMRR: hybrid minus dense.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=7, help="dataset seed (default 7)")
    parser.add_argument("--memories", type=int, default=2400, help="memories to generate (default 2400)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    quiet_libraries()
    report = asyncio.run(run(args.seed, args.memories))
    print(json.dumps(report, indent=2) if args.json else render(report))


if __name__ == "__main__":
    main()
