"""The ``soloos`` command line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console

from agents import when
from bot.app import open_app, quiet_libraries
from bot.cli_connect import calendar_app, connect_app, connectors, sync
from bot.cli_finance import bank_app, invoice_app
from bot.settings import Settings
from memory import LAYERS, Clock, InvalidInput, Layer, MemoryService, NotFound, StoreError, open_memory

T = TypeVar("T")

app = typer.Typer(help="SoloOS — the operating layer for a one-person business.", no_args_is_help=True)
memory_app = typer.Typer(help="Read and write the memory store.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")
app.add_typer(bank_app, name="bank")
app.add_typer(invoice_app, name="invoice")
app.add_typer(connect_app, name="connect")
app.add_typer(calendar_app, name="calendar")
app.command()(connectors)
app.command()(sync)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default from settings).")]


def _settings(workspace: str | None = None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        err.print(f"[red]error:[/] invalid settings — {problems}")
        raise typer.Exit(2) from error
    if workspace:
        settings = settings.model_copy(update={"workspace": workspace})
    return settings


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine, turning memory errors into one clear line and an exit code."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (InvalidInput, NotFound) as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from error
    except StoreError as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error


def _with_memory(settings: Settings, work: Callable[[MemoryService], Awaitable[T]]) -> T:
    async def go() -> T:
        quiet_libraries()
        async with open_memory(settings) as memory:
            return await work(memory)

    return _run(go())


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    parsed = when.instant(value, now=Clock().now())
    if parsed is None:
        err.print(f"[red]error:[/] {name} {value!r} is not a date I understand (try 2026-01-31 or '3 weeks ago')")
        raise typer.Exit(2)
    return parsed


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    from bot.logs import setup_logging

    try:
        settings = Settings()
        secrets = [v.get_secret_value() for _, v in settings if isinstance(v, SecretStr)]
        json_lines = settings.log_format == "json"
    except ValidationError:  # reported by the command itself
        secrets, json_lines = [], False
    setup_logging(verbose=verbose, secrets=secrets, json_lines=json_lines)


@app.command()
def chat(workspace: WorkspaceOpt = None) -> None:
    """Talk to SoloOS in this terminal (one reply per line when input is piped)."""
    from bot.console import run_interactive, run_piped

    settings = _settings(workspace)

    async def go() -> int:
        async with open_app(settings) as application:
            await application.syncer.start()
            await application.plans.start()
            if sys.stdin.isatty():
                await run_interactive(application)
                return 0
            return await run_piped(application, sys.stdin.buffer, sys.stdout)

    failures = _run(go())
    raise typer.Exit(1 if failures else 0)


@app.command()
def run(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (SOLOOS_METRICS_HOST, default 127.0.0.1).")
    ] = None,
) -> None:
    """Serve the configured chat channels (Telegram, Slack) until Ctrl-C or SIGTERM."""
    import signal

    settings = _settings()
    telegram = settings.telegram_token is not None
    slack = settings.slack_bot_token is not None
    if not telegram and not slack:
        err.print(
            "No chat channel is configured, so there is nothing to serve.\n"
            "Telegram: create a bot with @BotFather, then set SOLOOS_TELEGRAM_TOKEN=<token> and\n"
            "  SOLOOS_TELEGRAM_ALLOWED_USERS=<your numeric user id>.\n"
            "Slack: create the app from slack-manifest.yaml, then set SOLOOS_SLACK_BOT_TOKEN, SOLOOS_SLACK_APP_TOKEN\n"
            "  (Socket Mode) or SOLOOS_SLACK_SIGNING_SECRET (HTTP mode), and SOLOOS_SLACK_ALLOWED_USERS.\n"
            "To talk to SoloOS in this terminal instead, run: soloos chat"
        )
        raise typer.Exit(1)
    if telegram and not settings.telegram_allowlist:
        err.print(
            "[red]error:[/] SOLOOS_TELEGRAM_ALLOWED_USERS is empty: the bot would refuse everyone. "
            "Set it to your numeric Telegram user id (ask @userinfobot)."
        )
        raise typer.Exit(2)
    if telegram and settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
        err.print("[red]error:[/] webhook mode needs SOLOOS_TELEGRAM_WEBHOOK_SECRET, so forged updates are refused.")
        raise typer.Exit(2)
    if slack and not settings.slack_allowlist:
        err.print(
            "[red]error:[/] SOLOOS_SLACK_ALLOWED_USERS is empty: the app would refuse everyone. "
            "Set it to your Slack member id (U…; profile → ⋯ → Copy member ID)."
        )
        raise typer.Exit(2)
    if slack and settings.slack_app_token is None and settings.slack_signing_secret is None:
        err.print(
            "[red]error:[/] Slack needs SOLOOS_SLACK_APP_TOKEN (Socket Mode) or SOLOOS_SLACK_SIGNING_SECRET "
            "(HTTP mode)."
        )
        raise typer.Exit(2)

    async def serve() -> None:
        from bot.channels import open_channels

        async with open_app(settings) as application, open_channels(application) as names:
            await application.syncer.start()
            await application.plans.start()
            if metrics_port is not None:
                from bot.metrics import serve_metrics

                port = serve_metrics(
                    application.memory, settings.workspace, host=settings.metrics_host, port=metrics_port
                )
                err.print(f"metrics on http://{settings.metrics_host}:{port}/metrics")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            err.print(f"serving {' and '.join(names)}; Ctrl-C to stop")
            await stop.wait()
        err.print("stopped")

    from aiohttp import ClientError
    from slack_sdk.errors import SlackApiError
    from telegram.error import TelegramError

    try:
        _run(serve())
    except (TelegramError, SlackApiError, ClientError) as error:
        err.print(
            f"[red]error:[/] could not start a chat channel: {type(error).__name__}: {error}. Check the token "
            "and the API URL in your settings, and that this machine can reach the service (`soloos doctor`).",
            highlight=False,
        )
        raise typer.Exit(1) from error


@app.command()
def doctor() -> None:
    """Show what is configured, what works, and how to fix what is missing."""
    from bot.doctor import run_doctor

    settings = _settings()
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

    settings = _settings(workspace)

    async def work(memory: MemoryService) -> Any:
        return await assemble(
            memory,
            workspace=settings.workspace,
            budget=budget(settings),
            targets=slo_targets(settings),
            chart=chart is not None,
        )

    found = _with_memory(settings, work)
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

    settings = _settings(workspace)

    async def work(memory: MemoryService) -> tuple[list[Any], date]:
        today = memory.clock.today(settings.timezone)
        if plan_id is not None:
            return [await memory.plans.get(plan_id, workspace=settings.workspace)], today
        return await memory.plans.all(settings.workspace, include_closed=include_closed), today

    found, today = _with_memory(settings, work)  # an unknown plan: one clear line, exit 2
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


@memory_app.command("add")
def memory_add(
    text: str,
    layer: Annotated[str, typer.Option(help=f"One of {', '.join(LAYERS)}.")] = "project",
    subject: Annotated[str | None, typer.Option(help="What the fact is about; newer facts on it win.")] = None,
    occurred_at: Annotated[str | None, typer.Option("--when", help="When it happened (default now).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remember one fact."""
    settings = _settings(workspace)
    when = _date(occurred_at, "--when")
    item = _with_memory(
        settings,
        lambda m: m.remember(
            text,
            layer=cast(Layer, layer),
            workspace=settings.workspace,
            source="cli",
            occurred_at=when,
            subject=subject,
        ),
    )
    if as_json:
        out.print_json(data=item.to_json() | {"duplicate": item.duplicate})
    elif item.duplicate:
        out.print(f"already stored as {item.short_id}; kept the original")
    else:
        out.print(f"remembered {item.short_id} ({item.layer})")


@memory_app.command("search")
def memory_search(
    query: str,
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 10,
    layer: Annotated[list[str] | None, typer.Option(help="Only these layers (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Only memories from this date on.")] = None,
    until: Annotated[str | None, typer.Option(help="Only memories before this date.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid recall (vector + full text)."""
    settings = _settings(workspace)
    start, end = _date(since, "--since"), _date(until, "--until")
    hits = _with_memory(
        settings,
        lambda m: m.recall(query, workspace=settings.workspace, k=k, layers=layer, since=start, until=end),  # type: ignore[arg-type]
    )
    if as_json:
        out.print_json(data=[h.to_json() for h in hits])
        return
    if not hits:
        out.print("no matches")
    for hit in hits:
        out.print(
            f"{hit.short_id}  {hit.score:.4f}  [{hit.layer}] {hit.occurred_at:%Y-%m-%d}  {hit.text}",
            markup=False,
        )


@memory_app.command("list")
def memory_list(
    layer: Annotated[str | None, typer.Option(help="Only this layer.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    history: Annotated[bool, typer.Option("--history/--current", help="Include superseded facts.")] = True,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List memories, newest first."""
    settings = _settings(workspace)
    items = _with_memory(
        settings,
        lambda m: m.list(settings.workspace, layer=layer, limit=limit, include_history=history),  # type: ignore[arg-type]
    )
    if as_json:
        out.print_json(data=[i.to_json() for i in items])
        return
    if not items:
        out.print("no memories")
    for item in items:
        flag = "" if item.current else " (superseded)"
        out.print(f"{item.short_id}  [{item.layer}] {item.occurred_at:%Y-%m-%d}  {item.text}{flag}", markup=False)


@memory_app.command("forget")
def memory_forget(
    memory_id: Annotated[str, typer.Argument(help="The id (or its first 8 characters).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete one memory."""
    settings = _settings(workspace)
    item = _with_memory(settings, lambda m: m.forget(memory_id, workspace=settings.workspace))
    if as_json:
        out.print_json(data=item.to_json())
    else:
        out.print(f"forgot {item.short_id}: {item.text}", markup=False)


@memory_app.command("import")
def memory_import(
    path: Annotated[Path, typer.Argument(help='JSONL: {"text", "layer", "occurred_at", "subject", "metadata"}')],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import memories from a JSONL file; bad lines are reported and skipped."""
    settings = _settings(workspace)
    if not path.is_file():
        err.print(f"[red]error:[/] {path} is not a file")
        raise typer.Exit(2)

    async def work(memory: MemoryService) -> Any:
        if not sys.stderr.isatty() or as_json:
            return await memory.import_jsonl(path, workspace=settings.workspace)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        total = sum(1 for _ in path.open("rb"))
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("importing", total=total)
            return await memory.import_jsonl(
                path, workspace=settings.workspace, progress=lambda n: bar.update(task, completed=n)
            )

    report = _with_memory(settings, work)
    if as_json:
        out.print_json(
            data={
                "imported": report.imported,
                "duplicates": report.duplicates,
                "problems": [{"line": p.line, "message": p.message} for p in report.problems],
            }
        )
    else:
        out.print(
            f"imported {report.imported}, skipped {report.duplicates} duplicates, {len(report.problems)} bad lines"
        )
        for problem in report.problems[:50]:
            err.print(f"  line {problem.line}: {problem.message}", markup=False)
        if len(report.problems) > 50:
            err.print(f"  … and {len(report.problems) - 50} more")
    raise typer.Exit(1 if report.problems else 0)


@memory_app.command("export")
def memory_export(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    layer: Annotated[str | None, typer.Option(help="Only this layer.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export memories as JSONL (re-importable)."""
    settings = _settings(workspace)
    lines = _with_memory(settings, lambda m: m.export(settings.workspace, layer=layer))  # type: ignore[arg-type]
    text = "".join(line + "\n" for line in lines)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(lines)} memories to {output}")
    else:
        sys.stdout.write(text)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
