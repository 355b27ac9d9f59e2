"""``/status`` and ``soloos status``: service levels computed from the delivery log, approvals and
the spend ledger of a workspace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from agents.models import Budget
from agents.status import SloTargets, assemble
from bot.app import App
from memory import Schedule
from tests.support.chat import FakeChat

NOW = datetime.now(UTC)
BUDGET = Budget(Decimal(2), Decimal(30))


async def schedule(app: App, workspace: str, kind: str) -> Schedule:
    return await app.memory.schedules.create(
        workspace=workspace,
        operator="tester",
        kind=kind,  # type: ignore[arg-type]
        body="water the plants" if kind == "reminder" else "",
        conversation="test:status",
        timezone="UTC",
        crontab="0 8 * * *",
    )


async def delivered(app: App, made: Schedule, fire_at: datetime, *, late: timedelta | None) -> None:
    """A run of ``made`` at ``fire_at``: sent ``late`` after it, or (None) never delivered."""
    schedules = app.memory.schedules
    delivery = await asyncio.to_thread(schedules.claim_sync, made, fire_at)
    assert delivery is not None
    if late is None:
        await asyncio.to_thread(schedules.failed_sync, delivery, "ConnectionError: unreachable")
    else:
        await asyncio.to_thread(schedules.sent_sync, delivery, made.conversation, fire_at + late)


def sql(app: App, statement: str, *args: Any) -> None:
    with app.memory.db.connection() as conn:
        conn.execute(statement.encode(), args)


async def seed(app: App, workspace: str) -> None:
    briefing = await schedule(app, workspace, "briefing")
    reminder = await schedule(app, workspace, "reminder")
    for day in range(1, 5):  # four briefings on time, one 40 minutes late (20 days ago)
        await delivered(app, briefing, NOW - timedelta(days=day), late=timedelta(seconds=3))
    await delivered(app, briefing, NOW - timedelta(days=20), late=timedelta(minutes=40))
    for day in range(1, 4):
        await delivered(app, reminder, NOW - timedelta(days=day, hours=2), late=timedelta(seconds=1))
    await delivered(app, reminder, NOW - timedelta(days=2, hours=5), late=None)  # one never arrived
    approvals = [("a1", "executed", 3), ("a2", "denied", 5), ("a3", "approved", 30)]  # a3: approved, never done
    for token, status, minutes in approvals:
        await asyncio.to_thread(
            sql,
            app,
            """INSERT INTO approvals (id, workspace, operator, action_type, args, summary, reason, risks, tool_call_id,
               run_state, status, requested_at, expires_at, decided_at)
               VALUES (%s, %s, 'tester', 'email.send', '{}', 's', 'r', '[]', 't', 'null', %s,
                       now() - %s * interval '1 minute' - interval '1 hour', now() + interval '1 day',
                       now() - interval '1 hour')""",
            f"{workspace}-{token}",
            workspace,
            status,
            minutes,
        )
    await asyncio.to_thread(
        sql,
        app,
        """INSERT INTO spend_ledger (workspace, agent, tier, model, cost, created_at)
           VALUES (%s, 'coordinator', 'strong', 'm', 2.50, now() - interval '3 days')""",
        workspace,
    )


async def test_status_reports_each_service_level_over_7_and_30_days(app: App, workspace: str) -> None:
    await seed(app, workspace)
    found = await assemble(app.memory, workspace=workspace, budget=BUDGET, targets=SloTargets())
    lines = found.text.splitlines()
    assert lines[1] == "- Briefings on time: 100.0% (4/4) · 80.0% (4/5) · ≥99% ✗ MISSED"
    assert lines[2] == "- Reminders delivered: 75.0% (3/4) · 75.0% (3/4) · ≥99% ✗ MISSED"
    assert lines[3] == "- Approvals resolved or expired cleanly: 66.7% (2/3) · 66.7% (2/3) · ≥99% ✗ MISSED"
    assert lines[4] == "- Days over the $2.00 daily budget: 1 · 1 · ≤0 ✗ MISSED"
    assert not found.met
    assert found.chart_png is not None and found.chart_png[:8] == b"\x89PNG\r\n\x1a\n"

    relaxed = SloTargets(briefings_on_time=0.8, reminders_delivered=0.7, approvals_clean=0.6, budget_overshoot_days=1)
    assert (await assemble(app.memory, workspace=workspace, budget=BUDGET, targets=relaxed)).met


async def test_status_in_chat_with_no_history_says_there_is_no_data(app: App, workspace: str) -> None:
    answer = await FakeChat(app, workspace).say("/status")
    assert answer.startswith("*Service levels* (last 7 days · last 30 days · target)")
    assert "- Briefings on time: no data · no data · ≥99% ✓" in answer


def test_soloos_status_exits_1_when_a_target_is_missed(run, app: App, workspace: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(seed(app, workspace))  # a sync test (the CLI starts its own loop), so seed in a fresh one
    code, out, _ = run("status", "--chart", str(tmp_path / "slo.png"))
    assert code == 1
    assert "Reminders delivered: 75.0% (3/4)" in out and "✗ MISSED" in out
    assert (tmp_path / "slo.png").read_bytes()[:4] == b"\x89PNG"
