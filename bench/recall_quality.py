"""Recall quality: dense-only, text-only, plain fusion and SoloOS recall side by side, on two sets.

- ``synthetic``: ``bench.dataset.generate``, a labelled twelve-month operator history (identifiers,
  rates, contacts; questions paraphrased, exact-token and entity+attribute);
- ``dialogue``: ``bench.dialogues.load``, long multi-session conversations between people, each
  imported into its own workspace with its session dates; questions labelled with their evidence
  turns (single-hop, multi-hop, temporal, open-ended).

Modes: ``dense`` (vectors only), ``text`` (BM25-like ranking of the memories' own words), ``fusion``
(a plain reciprocal-rank fusion of those two: the baseline) and ``hybrid`` (SoloOS: context-indexed
words, identifiers, time, diversity). A question counts at k when any labelled memory is in the top
k; "all@10" counts multi-hop questions with every evidence turn in the top 10. Run from the root::

    .venv/bin/python -m bench.recall_quality [--set synthetic|dialogue|both] [--seed 7] [--memories 2400] [--json]
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

from bench import dialogues
from bench.dataset import generate
from bot.app import quiet_libraries
from bot.settings import Settings
from memory import MemoryService, open_memory
from memory._memory_types import RecallMode

MODES: tuple[RecallMode, ...] = ("dense", "text", "fusion", "hybrid")
LABELS = {"dense": "dense-only", "text": "text-only", "fusion": "plain fusion", "hybrid": "SoloOS"}
K = 10
WORKSPACE = "bench"


@dataclass(frozen=True)
class Outcome:
    """How one question fared in one mode."""

    group: str  # style (synthetic) or category (dialogue)
    rank: int | None  # 1-based rank of the first answering memory within the top K
    all_found: bool  # every labelled memory within the top K
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
        "all@10": mean(o.all_found for o in outcomes),
        "median_ms": 1000 * median(o.seconds for o in outcomes),
    }


def by_group(results: dict[str, list[Outcome]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{group: {mode: summary}}``, "overall" first."""
    groups = sorted({o.group for outcomes in results.values() for o in outcomes})
    table = {"overall": {mode: summarize(outcomes) for mode, outcomes in results.items()}}
    for group in groups:
        table[group] = {mode: summarize([o for o in outs if o.group == group]) for mode, outs in results.items()}
    return table


async def ask(
    memory: MemoryService, workspace: str, question: str, group: str, answers: Sequence[str], key: str, mode: RecallMode
) -> Outcome:
    started = time.perf_counter()
    hits = await memory.recall(question, workspace=workspace, k=K, mode=mode)
    elapsed = time.perf_counter() - started
    keys = [hit.metadata.get(key) for hit in hits]
    return Outcome(group, first_answer_rank(keys, answers), set(answers) <= set(keys), elapsed)


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


async def _import(memory: MemoryService, rows: list[dict[str, Any]], workspace: str, home: Path) -> tuple[int, float]:
    path = home / f"{workspace}.jsonl"
    write_jsonl(rows, path)
    started = time.perf_counter()
    report = await memory.import_jsonl(path, workspace=workspace)
    assert not report.problems, report.problems[:3]
    return report.imported, time.perf_counter() - started


async def synthetic(memory: MemoryService, home: Path, seed: int, n_memories: int) -> dict[str, Any]:
    memories, questions = generate(seed=seed, n_memories=n_memories)
    imported, seconds = await _import(memory, memories, WORKSPACE, home)
    results: dict[str, list[Outcome]] = {}
    for mode in MODES:  # one question at a time, so latencies are not contended
        results[mode] = [
            await ask(memory, WORKSPACE, q["question"], q["style"], q["answers"], "key", mode) for q in questions
        ]
    conditions = {"memories": imported, "questions": len(questions), "import_seconds": round(seconds, 1)}
    return {"conditions": conditions, "groups": by_group(results)}


async def dialogue(memory: MemoryService, home: Path) -> dict[str, Any]:
    loaded = dialogues.load()
    results: dict[str, list[Outcome]] = {mode: [] for mode in MODES}
    imported = 0
    seconds = 0.0
    per_dialogue: dict[str, dict[str, dict[str, float]]] = {}
    for d in loaded:
        workspace = f"dialogue-{d.name}"
        added, took = await _import(memory, dialogues.import_lines(d), workspace, home)
        imported += added
        seconds += took
        per_dialogue[d.name] = {}
        for mode in MODES:
            asked = [
                await ask(memory, workspace, q.question, q.category, q.evidence, "turn", mode) for q in d.questions
            ]
            results[mode] += asked
            per_dialogue[d.name][mode] = summarize(asked)
    conditions = {
        "dialogues": len(loaded),
        "turns": imported,
        "questions": sum(len(d.questions) for d in loaded),
        "import_seconds": round(seconds, 1),
    }
    return {"conditions": conditions, "groups": by_group(results), "dialogues": per_dialogue}


async def run(sets: Sequence[str], seed: int, n_memories: int) -> dict[str, Any]:
    """Load each set into a throwaway embedded Postgres, ask every question in every mode."""
    home = Path(tempfile.mkdtemp(prefix="soloos-recall-bench-"))
    report: dict[str, Any] = {}
    try:
        # database_url=None: never touch a real database named by DATABASE_URL in the environment
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_memory(settings) as memory:
            started = time.perf_counter()
            await asyncio.to_thread(memory.embedder.embed, "warm-up")  # waits for the model to load
            report["conditions"] = {
                "embedder": f"{memory.embedder.description}, imports in {memory.embedder.bulk_precision}",
                "embedder_load_seconds": round(time.perf_counter() - started, 1),
                "cpu_count": os.cpu_count(),
                "seed": seed,
                "k": K,
            }
            if "synthetic" in sets:
                report["synthetic"] = await synthetic(memory, home, seed, n_memories)
            if "dialogue" in sets:
                report["dialogue"] = await dialogue(memory, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return report


# -- output ---------------------------------------------------------------------------------------

_METRICS = ("recall@5", "recall@10", "mrr")


def _table(title: str, groups: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    modes = "".join(f"{LABELS[mode]:^22}" for mode in MODES)
    cells = "".join(f"{'R@5':>7}{'R@10':>7}{'MRR':>7}  " for _ in MODES)
    lines = [title, f"{'':<17}{modes}".rstrip(), f"{'':<12}{'n':>5}{cells}{'ms':>5}"]
    for name, by_mode in groups.items():
        row = "".join("".join(f"{by_mode[m][metric]:>7.3f}" for metric in _METRICS) + "  " for m in MODES)
        lines.append(f"{name:<12}{by_mode[MODES[0]]['n']:>5.0f}{row}{by_mode['hybrid']['median_ms']:>5.0f}")
    if "multi-hop" in groups:
        alls = "  ".join(f"{LABELS[m]} {groups['multi-hop'][m]['all@10']:.3f}" for m in MODES)
        lines.append(f"multi-hop, all evidence in top 10: {alls}")
    return lines


def render(report: dict[str, Any]) -> str:
    c = report["conditions"]
    lines = [
        f"Recall quality, k={c['k']}: {', '.join(f'{m} = {LABELS[m]}' for m in MODES)}",
        f"  embedder   {c['embedder']} (loaded in {c['embedder_load_seconds']} s)",
        f"  cpu_count  {c['cpu_count']}   seed {c['seed']}",
    ]
    if "synthetic" in report:
        s = report["synthetic"]["conditions"]
        lines += ["", f"Synthetic operator history: {s['memories']} memories (import {s['import_seconds']} s), "
                  f"{s['questions']} questions"]  # fmt: skip
        lines += _table("", report["synthetic"]["groups"])
    if "dialogue" in report:
        d = report["dialogue"]["conditions"]
        lines += ["", f"Dialogues: {d['dialogues']} conversations, {d['turns']} turns "
                  f"(import {d['import_seconds']} s), "
                  f"{d['questions']} questions"]  # fmt: skip
        lines += _table("", report["dialogue"]["groups"])
        for name, by_mode in report["dialogue"]["dialogues"].items():
            r10 = "  ".join(f"{LABELS[m]} {by_mode[m]['recall@10']:.3f}" for m in MODES)
            tuned = "recall was tuned on it" if name == dialogues.TUNED_ON else "written after the tuning"
            lines.append(f"R@10 in {name} ({by_mode[MODES[0]]['n']:.0f} questions, {tuned}): {r10}")
    lines += ["", "R@k: share of questions with an answering memory in the top k; MRR over the top 10;",
              "ms: median SoloOS recall latency."]  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--set", choices=("synthetic", "dialogue", "both"), default="both")
    parser.add_argument("--seed", type=int, default=7, help="synthetic dataset seed (default 7)")
    parser.add_argument("--memories", type=int, default=2400, help="synthetic memories (default 2400)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    quiet_libraries()
    sets = ("synthetic", "dialogue") if args.set == "both" else (args.set,)
    report = asyncio.run(run(sets, args.seed, args.memories))
    print(json.dumps(report, indent=2) if args.json else render(report))


if __name__ == "__main__":
    main()
