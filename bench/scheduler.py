"""Scheduler precision and briefing assembly time.

    .venv/bin/python -m bench.scheduler [--reminders 500] [--memories 10000] [--records 1000]

1. Fire-time precision: N one-off reminders all due at the same minute boundary, planned by the
   real scheduler (APScheduler + Postgres job store, through LISTEN/NOTIFY), fired through the
   delivery log and sent to an in-process channel that records the moment it was asked to send.
   Lateness = moment sent − scheduled fire time.
2. Briefing assembly: a workspace with M memories and R records (tasks, events, approvals,
   audit events), assembled as the scheduled briefing would be, with and without the chart.
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
from pathlib import Path

from agents.briefing import assemble
from bench.turn_overhead import percentile
from bot.app import App, open_app, quiet_libraries
from bot.intent import Reply
from bot.settings import Settings


async def _lead(app: App, sent: list[float]) -> None:
    async def record(_target: str, _reply: Reply) -> None:
        sent.append(time.time())

    app.outbound.register("bench", record)
    await app.scheduler.start(["bench"])
    while "bench" not in app.scheduler.leading:
        await asyncio.sleep(0.05)


async def _settled(app: App, workspace: str, count: int) -> dict[str, int]:
    """Wait until every delivery is recorded as sent (or 30 s), then count the statuses."""
    statuses: dict[str, int] = {}
    for _ in range(300):
        statuses = {}
        for delivery in await app.memory.schedules.deliveries(workspace=workspace):
            statuses[delivery.delivery_status] = statuses.get(delivery.delivery_status, 0) + 1
        if statuses.get("sent", 0) >= count:
            break
        await asyncio.sleep(0.1)
    return statuses


def _report(label: str, late: list[float]) -> None:
    print(
        f"{label} lateness ms: p50 {percentile(late, 50):.0f}  p95 {percentile(late, 95):.0f}  "
        f"p99 {percentile(late, 99):.0f}  max {max(late):.0f}  min {min(late):.0f}"
    )


async def single(app: App, count: int) -> None:
    """One reminder at a time, each due 2 s after it is set: the everyday case."""
    sent: list[float] = []
    await _lead(app, sent)
    late = []
    for n in range(count):
        due = datetime.now(UTC) + timedelta(seconds=2)
        await app.memory.schedules.create(
            workspace="single",
            operator="bench",
            kind="reminder",
            body=f"single {n}",
            conversation="bench:single",
            timezone="UTC",
            fire_at=due,
        )
        while len(sent) <= n:
            await asyncio.sleep(0.005)
        late.append((sent[n] - due.timestamp()) * 1000)
    await _settled(app, "single", count)
    await app.scheduler.stop()
    _report(f"{count} reminders one at a time,", late)


async def precision(app: App, count: int) -> None:
    sent: list[float] = []
    await _lead(app, sent)
    now = datetime.now(UTC)
    due = (now + timedelta(seconds=75)).replace(second=0, microsecond=0)  # a minute boundary ≥ 15 s away
    began = time.perf_counter()
    for n in range(count):
        await app.memory.schedules.create(
            workspace="bench",
            operator="bench",
            kind="reminder",
            body=f"reminder {n}",
            conversation=f"bench:{n % 20}",
            timezone="UTC",
            fire_at=due,
        )
    print(f"created {count} reminders in {time.perf_counter() - began:.1f} s, all due at {due:%H:%M:%S} UTC")
    while len(sent) < count and datetime.now(UTC) < due + timedelta(seconds=120):
        await asyncio.sleep(0.1)
    statuses = await _settled(app, "bench", count)
    await app.scheduler.stop()
    print(f"delivered {len(sent)}/{count}; delivery log: {statuses}")
    _report(f"{count} reminders due in the same second,", [(moment - due.timestamp()) * 1000 for moment in sent])


async def seed(app: App, memories: int, records: int, home: Path) -> None:
    rng = random.Random(7)
    clients = [f"Client{n}" for n in range(200)]
    path = home / "memories.jsonl"
    with path.open("w") as out:
        for n in range(memories):
            client = rng.choice(clients)
            layer = "institutional" if n % 50 == 0 else "project"
            channel = rng.choice(["calls", "e-mail", "Slack"])
            text = f"{client} note {n}: prefers {channel}, pays in {rng.randint(7, 60)} days"
            out.write(json.dumps({"text": text, "layer": layer}) + "\n")
    began = time.perf_counter()
    report = await app.memory.import_jsonl(path, workspace="brief")
    print(f"imported {report.imported} memories in {time.perf_counter() - began:.0f} s")
    now = datetime.now(UTC)

    def insert() -> None:
        with app.memory.db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO tasks (workspace, title, status, due_at, done_at) VALUES ('brief', %s, %s, %s, %s)""",
                [
                    (
                        f"task {n} for {rng.choice(clients)}",
                        "done" if n % 2 else "open",
                        now + timedelta(hours=rng.randint(-200, 200)),
                        now - timedelta(hours=rng.randint(0, 400)) if n % 2 else None,
                    )
                    for n in range(records)
                ],
            )
            cur.executemany(
                "INSERT INTO events (workspace, title, starts_at) VALUES ('brief', %s, %s)",
                [(f"meeting {n}", now + timedelta(hours=rng.randint(-100, 100))) for n in range(records // 10)],
            )

    await asyncio.to_thread(insert)
    for n in range(records // 10):
        await app.gate.record_operator_action(
            workspace="brief",
            operator="bench",
            intent_key=None,
            action_type="task.complete",
            outcome=f"completed task #{n}",
            undo=None,
        )


async def assembly(app: App, runs: int) -> None:
    for chart in (False, True):
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            briefing = await assemble(
                app.memory, app.gate, workspace="brief", timezone="Europe/Berlin", budget=app.runner.budget, chart=chart
            )
            times.append((time.perf_counter() - began) * 1000)
        label = "with chart" if chart else "text only "
        print(
            f"briefing {label}: median {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms "
            f"over {runs} runs ({len(briefing.text)} characters"
            + (f", PNG {len(briefing.chart_png or b'') / 1024:.0f} KiB)" if chart else ")")
        )


async def main(reminders: int, memories: int, records: int) -> None:
    quiet_libraries()
    home = Path(tempfile.mkdtemp(prefix="soloos-sched-"))
    print(f"machine: {os.cpu_count()} cores; embedded PostgreSQL 18 in {home}")
    try:
        settings = Settings(home=home, _env_file=None, database_url=None)  # type: ignore[call-arg]
        async with open_app(settings) as app:
            await single(app, 10)
            await precision(app, reminders)
            await seed(app, memories, records, home)
            print(f"workspace: {memories:,} memories, {records:,} tasks, {records // 10} events and audit events")
            await assembly(app, 20)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=500)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(main(args.reminders, args.memories, args.records))
