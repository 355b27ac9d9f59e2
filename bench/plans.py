"""Planning and dispatch overhead for a plan of 200 tasks, with the model's own time taken out.

    .venv/bin/python -m bench.plans [--projects 10] [--tasks-per-project 20] [--memories 5000]

A scripted model answers at once: the strategist with N projects, the tactician with M tasks per
project (chains of five dependent steps), every specialist step with a short text. What is timed is
ours: context assembly (rules + hybrid recall + recent turns, within the token budget), output
validation, the database writes, approval, and the execution pass (claim with SKIP LOCKED,
checkpoint at each model request, result, report). The memory context of each planning call is
measured against the budget (``SOLOOS_CONTEXT_TOKEN_BUDGET``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo

from agents import Budget, Prices
from agents.context import estimate_tokens
from agents.executor import PlanExecutor
from agents.planner import Planner
from bot.app import App, open_app, quiet_libraries
from bot.settings import Settings
from tests.support.plan_models import PlanScript, task

WORKSPACE = "plans-bench"


class TimedScript(PlanScript):
    """The scripted model, with the time spent inside it added up (to subtract it)."""

    model_seconds: float = 0.0

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        began = time.perf_counter()
        try:
            return super().__call__(messages, info)
        finally:
            self.model_seconds += time.perf_counter() - began


def script(projects: int, per_project: int) -> TimedScript:
    today = datetime.now(UTC).date()
    tactics = []
    for p in range(projects):
        tasks: list[dict[str, Any]] = []
        for n in range(per_project):
            key = f"p{p}-t{n}"
            after = (f"p{p}-t{n - 1}",) if n % 5 else ()
            owner = ("research", "drafting", "finance", "scheduling")[n % 4]
            due = (today + timedelta(days=7 + n)).isoformat()
            tasks.append(task(key, f"Step {n} of project {p}: {owner} work", owner, after=after, due=due))
        tactics.append({"tasks": tasks})
    return TimedScript(
        strategy={
            "success_measure": "three signed retainers",
            "projects": [{"title": f"Project {p}", "purpose": "part of the objective"} for p in range(projects)],
        },
        tactics=tactics,
    )


async def seed(app: App, memories: int, home: Path) -> None:
    rng = random.Random(11)
    path = home / "memories.jsonl"
    with path.open("w") as out:
        for n in range(memories):
            layer = "institutional" if n % 100 == 0 else "project"
            text = f"Client{rng.randint(0, 300)} note {n}: retainer of {rng.randint(1, 9)}k, prefers calls"
            out.write(json.dumps({"text": text, "layer": layer}) + "\n")
    report = await app.memory.import_jsonl(path, workspace=WORKSPACE)
    print(f"workspace: {report.imported:,} memories ({memories // 100} rules)")


async def main(projects: int, per_project: int, memories: int, runs: int) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-plans-"))
    print(f"machine: {os.cpu_count()} cores; embedded PostgreSQL 18 in {home}")
    try:
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_app(settings) as app:
            await seed(app, memories, home)
            budget, prices = Budget(Decimal(100), Decimal(1000)), Prices(Decimal(0), Decimal(0))
            plan_times, dispatch_per_task, contexts = [], [], []
            sizes: list[int] = []
            for run in range(runs):
                scripted = script(projects, per_project)
                tiers = scripted.tiers()
                planner = Planner(app.memory, tiers, budget, prices, settings.context_token_budget)
                began = time.perf_counter()
                drafted = await planner.draft(
                    "Land 3 new retainer clients by March",
                    workspace=WORKSPACE,
                    operator="bench",
                    conversation="bench",
                    timezone="UTC",
                )
                plan_seconds = time.perf_counter() - began - scripted.model_seconds
                plan_times.append(plan_seconds)
                contexts.append(drafted.context_tokens)
                sizes += scripted.request_sizes
                plan = drafted.plan
                await app.memory.plans.approve(plan.objective.id, workspace=WORKSPACE, operator="bench")
                executor = PlanExecutor(
                    app.memory, app.gate, tiers, budget, prices, settings.context_token_budget, batch=8
                )
                scripted.model_seconds = 0.0
                began = time.perf_counter()
                ran = await executor.run_until_idle(WORKSPACE, timezone="UTC", report=True)
                dispatch = time.perf_counter() - began - scripted.model_seconds
                dispatch_per_task.append(dispatch / max(ran, 1) * 1000)
                print(
                    f"run {run + 1}: {len(plan.tasks)} tasks in {len(plan.projects)} projects; planning overhead "
                    f"{plan_seconds * 1000:.0f} ms ({drafted.model_calls} model calls, model time "
                    f"excluded); dispatch {ran} agent tasks in {dispatch:.2f} s = {dispatch / max(ran, 1) * 1000:.1f} "
                    f"ms/task overhead"
                )
            median_plan = statistics.median(plan_times) * 1000
            print(f"planning overhead, {projects * per_project} tasks: median {median_plan:.0f} ms")
            print(f"dispatch overhead per agent task: median {statistics.median(dispatch_per_task):.1f} ms")
            print(
                f"memory context per planning call: max {max(contexts)} tokens (budget "
                f"{settings.context_token_budget}); whole request incl. instructions: max "
                f"{max(estimate_tokens('x' * s) for s in sizes)} tokens"
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--tasks-per-project", type=int, default=20)
    parser.add_argument("--memories", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.projects, args.tasks_per_project, args.memories, args.runs))
