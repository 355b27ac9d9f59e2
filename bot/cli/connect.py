"""``soloos connect email|calendar|bank``, ``soloos connectors`` and ``soloos sync``: set up a connector
(checked against the real system before anything is saved), see their health, read new data now.

Registered on the main app in ``bot.cli``; settings and memory come from ``bot.cli.common``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from bot.cli.common import WorkspaceOpt, err, out, settings_for, with_memory

connect_app = typer.Typer(help="Connect an external system (checked before it is saved).", no_args_is_help=True)
calendar_app = typer.Typer(help="Calendar files.", no_args_is_help=True)

Password = Annotated[str, typer.Option(prompt=True, hide_input=True, help="Asked for when not given.")]


def _connect(name: str, settings_in: dict[str, Any], workspace: str | None) -> None:
    from connectors.errors import SetupError
    from connectors.registry import connect

    settings = settings_for(workspace)

    async def work(memory: Any) -> str:
        try:
            return (await connect(memory, settings.workspace, name, settings_in)).detail
        except SetupError as error:
            err.print(f"[red]error:[/] {error}", highlight=False)
            raise typer.Exit(2) from error

    detail = with_memory(settings, work)
    out.print(f"{name} connected: {detail}", highlight=False)


@connect_app.command("email")
def connect_email(
    imap_host: Annotated[str, typer.Option(help="IMAP server, e.g. imap.fastmail.com")],
    smtp_host: Annotated[str, typer.Option(help="SMTP server, e.g. smtp.fastmail.com")],
    username: Annotated[str, typer.Option(help="Login name (often the address)")],
    address: Annotated[str, typer.Option(help="Your From address")],
    password: Password,
    imap_port: Annotated[int, typer.Option(help="IMAP port")] = 993,
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 465,
    security: Annotated[str, typer.Option(help="ssl, starttls or none")] = "ssl",
    mailbox: Annotated[str, typer.Option(help="Folder to read")] = "INBOX",
    workspace: WorkspaceOpt = None,
) -> None:
    """Read mail over IMAP and send over SMTP (sends only after your approval)."""
    _connect(
        "email",
        {
            "imap_host": imap_host,
            "imap_port": imap_port,
            "smtp_host": smtp_host,
            "smtp_port": smtp_port,
            "username": username,
            "password": password,
            "address": address,
            "security": security,
            "mailbox": mailbox,
        },
        workspace,
    )


@connect_app.command("calendar")
def connect_calendar(
    url: Annotated[str, typer.Option(help="CalDAV URL, e.g. https://caldav.fastmail.com/dav/")],
    username: Annotated[str, typer.Option(help="Login name")],
    password: Password,
    calendar: Annotated[str | None, typer.Option(help="Calendar name (default: the first one)")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Read and create events over CalDAV (creating needs your approval)."""
    _connect("calendar", {"url": url, "username": username, "password": password, "calendar": calendar}, workspace)


@connect_app.command("bank")
def connect_bank(
    folder: Annotated[Path, typer.Option(help="Folder you save statements into (default: SOLOOS_HOME/statements)")] = (
        Path()
    ),
    account: Annotated[str | None, typer.Option(help="Account name (default: the OFX account id, else main)")] = None,
    currency: Annotated[str | None, typer.Option(help="Currency of CSVs without a currency column")] = None,
    date_order: Annotated[str | None, typer.Option(help="dmy or mdy for 01/02/2026-style dates")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import bank statements you drop into a folder (OFX/QFX/CSV), matched against your invoices."""

    chosen = folder if folder != Path() else settings_for(workspace).home / "statements"
    _connect(
        "bank",
        {"folder": str(chosen.resolve()), "account": account, "currency": currency, "date_order": date_order},
        workspace,
    )


def connectors(
    check: Annotated[bool, typer.Option("--check", help="Re-check each connection now.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """The connected systems and their health."""
    from connectors.registry import check_all

    settings = settings_for(workspace)

    async def work(memory: Any) -> list[Any]:
        if check:
            await check_all(memory, settings.workspace)
        return list(await memory.connectors.all(settings.workspace))

    records = with_memory(settings, work)
    if not records:
        out.print("No connectors yet. Set one up with: soloos connect email | calendar | bank | mcp")
        return
    for record in records:
        state = "ok" if record.healthy else "FAILING" if record.healthy is False else "unchecked"
        read = f", last read {record.last_read_at:%Y-%m-%d %H:%M}" if record.last_read_at else ""
        out.print(f"{record.name}: {state} — {record.health_detail}{read}", highlight=False)


def sync(
    name: Annotated[Literal["email", "calendar", "bank"], typer.Argument(help="email, calendar or bank")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Read new data from a connector now."""
    from connectors.errors import SetupError
    from connectors.registry import sync as read_now

    settings = settings_for(workspace)

    async def work(memory: Any) -> Any:
        try:
            return await read_now(memory, settings.workspace, name)
        except SetupError as error:
            err.print(f"[red]error:[/] {error}", highlight=False)
            raise typer.Exit(2) from error

    report = with_memory(settings, work)
    out.print(
        f"{name}: {report.imported} new, {report.duplicates} already known, {report.quarantined} quarantined",
        highlight=False,
    )
    for problem in report.problems:
        out.print(f"- {problem}", highlight=False)


@calendar_app.command("import")
def calendar_import(
    file: Annotated[Path, typer.Argument(help="An .ics file exported from a calendar")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Import the events of an .ics file (re-importing updates them, never duplicates)."""
    from connectors.calendar import import_ics
    from connectors.errors import IcsError

    settings = settings_for(workspace)

    async def work(memory: Any) -> Any:
        try:
            return await import_ics(file, memory, settings.workspace, timezone=settings.timezone)
        except IcsError as error:
            err.print(f"[red]error:[/] {error}", highlight=False)
            raise typer.Exit(2) from error

    report = with_memory(settings, work)
    out.print(
        f"{file.name}: {report.imported} events imported, {report.duplicates} already known, "
        f"{report.quarantined} quarantined",
        highlight=False,
    )
    for problem in report.problems:
        out.print(f"- {problem}", highlight=False)


@connect_app.command("mcp")
def connect_mcp(
    name: Annotated[str, typer.Argument(help="A short name for the server (its tools appear under it)")],
    command: Annotated[str | None, typer.Option(help="Command line that starts a local (stdio) server")] = None,
    url: Annotated[str | None, typer.Option(help="URL of a remote (streamable HTTP) server")] = None,
    header: Annotated[
        list[str] | None, typer.Option(help="HTTP header Name=value for --url (stored encrypted); repeatable")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Connect an MCP server: it is started, initialized and its tools listed before it is saved."""
    from connectors.errors import SetupError
    from connectors.mcp import McpConfig, parse_headers
    from connectors.registry import connect_mcp as check_and_save

    settings = settings_for(workspace)
    try:
        config = McpConfig(name=name, command=command, url=url, headers=parse_headers(header or []))
    except (ValueError, SetupError) as error:
        err.print(f"[red]error:[/] {_first_problem(error)}", highlight=False)
        raise typer.Exit(2) from error

    async def work(memory: Any) -> str:
        try:
            return (await check_and_save(memory, settings.workspace, config, seconds=settings.mcp_start_seconds)).detail
        except SetupError as error:
            err.print(f"[red]error:[/] {error}. Nothing was saved.", highlight=False)
            raise typer.Exit(2) from error

    detail = with_memory(settings, work)
    out.print(f"MCP server {name} connected: {detail}", highlight=False)
    out.print(
        "Every call of its tools waits for your approval until your policy file says otherwise (its mcp: section).",
        highlight=False,
    )


def _first_problem(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
    return str(error)


def disconnect(
    name: Annotated[str, typer.Argument(help="The connector to remove: email, calendar, bank or mcp:NAME")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Remove a connector and its saved settings (secrets included)."""
    from connectors.registry import disconnect as remove

    settings = settings_for(workspace)
    removed = with_memory(settings, lambda memory: remove(memory, settings.workspace, name))
    if not removed:
        err.print(f"[red]error:[/] no connector {name!r} is set up; `soloos connectors` lists them", highlight=False)
        raise typer.Exit(2)
    out.print(f"{name} removed.", highlight=False)
