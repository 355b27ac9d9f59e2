"""``soloos memory …``: read and write the memory store from the command line (``--json`` everywhere)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from bot.cli.common import JsonOpt, WorkspaceOpt, date_in_words, err, out, settings_for, with_memory
from memory import LAYERS, Layer, MemoryService

memory_app = typer.Typer(help="Read and write the memory store.", no_args_is_help=True)


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
    settings = settings_for(workspace)
    when = date_in_words(occurred_at, "--when")
    item = with_memory(
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
    settings = settings_for(workspace)
    start, end = date_in_words(since, "--since"), date_in_words(until, "--until")
    hits = with_memory(
        settings,
        lambda m: m.recall(query, workspace=settings.workspace, k=k, layers=layer, since=start, until=end),  # type: ignore[arg-type]
    )
    if as_json:
        out.print_json(data=[h.to_json() for h in hits])
        return
    if not hits:
        out.print("no matches")
    for hit in hits:
        flag = "" if hit.confirmed else f" ({hit.provenance})"
        out.print(
            f"{hit.short_id}  {hit.score:.4f}  [{hit.layer}] {hit.occurred_at:%Y-%m-%d}  {hit.text}{flag}",
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
    settings = settings_for(workspace)
    items = with_memory(
        settings,
        lambda m: m.list(settings.workspace, layer=layer, limit=limit, include_history=history),  # type: ignore[arg-type]
    )
    if as_json:
        out.print_json(data=[i.to_json() for i in items])
        return
    if not items:
        out.print("no memories")
    for item in items:
        flag = ("" if item.current else " (superseded)") + ("" if item.confirmed else f" ({item.provenance})")
        out.print(f"{item.short_id}  [{item.layer}] {item.occurred_at:%Y-%m-%d}  {item.text}{flag}", markup=False)


@memory_app.command("forget")
def memory_forget(
    memory_id: Annotated[str, typer.Argument(help="The id (or its first 8 characters).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete one memory."""
    settings = settings_for(workspace)
    item = with_memory(settings, lambda m: m.forget(memory_id, workspace=settings.workspace))
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
    settings = settings_for(workspace)
    if not path.is_file():
        err.print(f"[red]error:[/] {path} is not a file")
        raise typer.Exit(2)

    async def work(memory: MemoryService) -> Any:
        if not sys.stderr.isatty() or as_json:
            return await memory.import_jsonl(path, workspace=settings.workspace)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        total = _count_lines(path)
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

    report = with_memory(settings, work)
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


def _count_lines(path: Path) -> int:
    """Lines in a file, read in bounded chunks (a hostile file may be one line of gigabytes)."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count, last = count + chunk.count(b"\n"), chunk[-1:]
    return count + (last != b"\n")


@memory_app.command("export")
def memory_export(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    layer: Annotated[str | None, typer.Option(help="Only this layer.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export memories as JSONL (re-importable)."""
    settings = settings_for(workspace)
    lines = with_memory(settings, lambda m: m.export(settings.workspace, layer=layer))  # type: ignore[arg-type]
    text = "".join(line + "\n" for line in lines)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(lines)} memories to {output}")
    else:
        sys.stdout.write(text)
