"""``soloos chat`` (the console) and ``soloos run`` (Telegram and Slack until stopped)."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated

import typer

from bot.app import open_app
from bot.cli.common import WorkspaceOpt, err, run_async, settings_for

log = logging.getLogger(__name__)

app = typer.Typer()


@app.command()
def chat(workspace: WorkspaceOpt = None) -> None:
    """Talk to SoloOS in this terminal (one reply per line when input is piped)."""
    from bot.console import run_interactive, run_piped

    settings = settings_for(workspace)

    async def go() -> int:
        from bot.supervisor import supervisor_for

        async with open_app(settings) as application:
            await application.syncer.start()
            await application.plans.start()
            if application.learning is not None:
                await application.learning.start()
            supervisor = supervisor_for(application)  # the embedded database, started again if it dies
            if supervisor is not None:
                await supervisor.start()
            try:
                if sys.stdin.isatty():
                    await run_interactive(application)
                    return 0
                return await run_piped(application, sys.stdin.buffer, sys.stdout)
            finally:
                if supervisor is not None:
                    await supervisor.stop()

    failures = run_async(go())
    raise typer.Exit(1 if failures else 0)


@app.command()
def run(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (SOLOOS_METRICS_HOST, default 127.0.0.1).")
    ] = None,
) -> None:
    """Serve the configured chat channels (Telegram, Slack) until Ctrl-C or SIGTERM."""
    import signal

    settings = settings_for()
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

    async def serve() -> int:
        from bot.channels import open_channels
        from bot.supervisor import supervisor_for, until_stopped

        status = 0
        try:
            async with open_app(settings) as application, open_channels(application) as names:
                await application.syncer.start()
                await application.plans.start()
                if application.learning is not None:
                    await application.learning.start()
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
                supervisor = supervisor_for(application)  # the embedded database, started again if it dies
                if supervisor is not None:
                    await supervisor.start()
                err.print(f"serving {' and '.join(names)}; Ctrl-C to stop")
                try:
                    status = await until_stopped(stop, supervisor)
                finally:
                    if supervisor is not None:
                        await supervisor.stop()
                if status:
                    _exit_anyway_after(SHUTDOWN_GRACE_SECONDS, status)  # shutting down may wait on the dead database
        except Exception:
            if not status:
                raise
            log.exception("shutting down after the database was lost failed")  # the exit status says enough
        if status:
            err.print(
                "[red]error:[/] the embedded database stopped and could not be started again; exiting so "
                f"that the service manager restarts SoloOS (see {settings.home / 'pgdata' / 'log'}).",
                highlight=False,
            )
        else:
            err.print("stopped")
        return status

    from aiohttp import ClientError
    from slack_sdk.errors import SlackApiError
    from telegram.error import TelegramError

    try:
        status = run_async(serve())
    except (TelegramError, SlackApiError, ClientError) as error:
        err.print(
            f"[red]error:[/] could not start a chat channel: {type(error).__name__}: {error}. Check the token "
            "and the API URL in your settings, and that this machine can reach the service (`soloos doctor`).",
            highlight=False,
        )
        raise typer.Exit(1) from error
    if status:
        raise typer.Exit(status)


SHUTDOWN_GRACE_SECONDS = 30.0


def _exit_anyway_after(seconds: float, status: int) -> None:
    """Make sure the process ends with ``status`` even if shutting down hangs."""
    import os
    import threading

    timer = threading.Timer(seconds, os._exit, args=(status,))
    timer.daemon = True
    timer.start()
