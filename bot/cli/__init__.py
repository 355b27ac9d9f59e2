"""The ``soloos`` command line: one Typer app made of the command modules of this package.

``common`` holds what they share (settings, errors, the memory service, dates in words); each other
module is one group of commands: ``serve`` (chat, run), ``reports`` (doctor, status, plans),
``memory``, ``connect`` (connect, connectors, sync, calendar import), ``finance`` (bank, invoice) and
``secrets`` (rotate the key of connector passwords).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from bot.cli import reports, serve
from bot.cli.connect import calendar_app, connect_app, connectors, disconnect, sync
from bot.cli.finance import bank_app, invoice_app
from bot.cli.mcp import mcp_app
from bot.cli.memory import memory_app
from bot.cli.secrets import secrets_app
from bot.settings import Settings

app = typer.Typer(help="SoloOS — the operating layer for a one-person business.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")
app.add_typer(bank_app, name="bank")
app.add_typer(invoice_app, name="invoice")
app.add_typer(connect_app, name="connect")
app.add_typer(calendar_app, name="calendar")
app.add_typer(secrets_app, name="secrets")
app.add_typer(mcp_app, name="mcp")
app.command()(connectors)
app.command()(disconnect)
app.command()(sync)
for group in (serve.app, reports.app):
    app.registered_commands += group.registered_commands


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


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


__all__ = ["app", "main"]
