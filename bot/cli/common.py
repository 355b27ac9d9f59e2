"""What every ``soloos`` command shares: the consoles, the common options, settings, running a
coroutine with clear errors, the memory service, and dates in words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from agents import when
from bot.app import quiet_libraries
from bot.settings import Settings
from connectors.registry import seal_plaintext
from memory import Clock, InvalidInput, MemoryService, NotFound, StoreError, open_memory

T = TypeVar("T")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default from settings).")]


def settings_for(workspace: str | None = None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        err.print(f"[red]error:[/] invalid settings — {problems}")
        raise typer.Exit(2) from error
    if workspace:
        settings = settings.model_copy(update={"workspace": workspace})
    return settings


def run_async(coro: Awaitable[T]) -> T:
    """Run a coroutine, turning memory errors into one clear line and an exit code."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (InvalidInput, NotFound) as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from error
    except StoreError as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error


def with_memory(settings: Settings, work: Callable[[MemoryService], Awaitable[T]]) -> T:
    async def go() -> T:
        quiet_libraries()
        async with open_memory(settings) as memory:
            await seal_plaintext(memory)  # configurations saved before secrets were encrypted
            return await work(memory)

    return run_async(go())


def date_in_words(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    parsed = when.instant(value, now=Clock().now())
    if parsed is None:
        err.print(f"[red]error:[/] {name} {value!r} is not a date I understand (try 2026-01-31 or '3 weeks ago')")
        raise typer.Exit(2)
    return parsed


def fail(message: str) -> typer.Exit:
    """Say what is wrong, in one line; the caller raises the exit (code 2: the input was wrong)."""
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


__all__ = [
    "JsonOpt",
    "WorkspaceOpt",
    "date_in_words",
    "err",
    "fail",
    "out",
    "run_async",
    "settings_for",
    "with_memory",
]
