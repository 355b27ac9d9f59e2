"""``soloos doctor``, ``soloos status`` and ``soloos plans``: what is configured, service levels, plans."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import WorkspaceOpt, out, settings_for, with_memory
from memory import MemoryService

app = typer.Typer()


@app.command()
def doctor() -> None:
    """Show what is configured, what works, and how to fix what is missing."""
    from bot.doctor import run_doctor

    settings = settings_for()
    healthy = asyncio.run(run_doctor(settings, out))
    raise typer.Exit(0 if healthy else 1)


@app.command()
def status(
    chart: Annotated[Path | None, typer.Option(help="Also write the chart to this PNG file.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Service levels over the last 7 and 30 days against your targets (exit 1 when one is missed)."""
    from agents.status import assemble
    from bot.app import budget, slo_targets

    settings = settings_for(workspace)

    async def work(memory: MemoryService) -> Any:
        return await assemble(
            memory,
            workspace=settings.workspace,
            budget=budget(settings),
            targets=slo_targets(settings),
            chart=chart is not None,
        )

    found = with_memory(settings, work)
    out.print(found.text.replace("*", ""), highlight=False)
    if chart is not None and found.chart_png is not None:
        chart.write_bytes(found.chart_png)
        out.print(f"Chart: {chart}", highlight=False)
    raise typer.Exit(0 if found.met else 1)


@app.command()
def plans(
    plan_id: Annotated[int | None, typer.Argument(help="One plan, with its steps.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    include_closed: Annotated[bool, typer.Option("--all", help="Also done and cancelled plans.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Your plans and their progress (the same as /plans and /plan N in chat)."""
    import dataclasses
    import json

    from agents.plan_views import progress, render_plan, summary_line

    settings = settings_for(workspace)

    async def work(memory: MemoryService) -> tuple[list[Any], date]:
        today = memory.clock.today(settings.timezone)
        if plan_id is not None:
            return [await memory.plans.get(plan_id, workspace=settings.workspace)], today
        return await memory.plans.all(settings.workspace, include_closed=include_closed), today

    found, today = with_memory(settings, work)  # an unknown plan: one clear line, exit 2
    if as_json:
        rows = [{**dataclasses.asdict(p), "progress": dataclasses.asdict(progress(p, today))} for p in found]
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    if plan_id is not None:
        out.print(render_plan(found[0], today, results=True).replace("*", ""), highlight=False)
        return
    if not found:
        out.print("No plans. State an objective in chat: /objective Land 3 new retainer clients by March")
    for plan in found:
        out.print(summary_line(plan, today), highlight=False)
