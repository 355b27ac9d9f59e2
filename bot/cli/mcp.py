"""``soloos mcp``: serve the operator's memory and records to their other AI tools (MCP), over stdio
for a desktop assistant or an editor that starts it, or ``--http`` on 127.0.0.1 with a bearer token;
``soloos mcp token`` shows (or renews) that token.

In stdio mode stdout carries the protocol and nothing else: messages go to stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import WorkspaceOpt, err, fail, out, run_async, settings_for
from bot.settings import Settings

mcp_app = typer.Typer(
    help="Serve SoloOS's memory and records to your other AI tools (MCP): stdio, or --http on 127.0.0.1."
)


def _token(settings: Settings, *, renew: bool = False) -> tuple[str, bool]:
    from bot.mcp import http_token
    from memory.secrets import secret_box

    return http_token(settings.home, secret_box(settings.home, settings.secret_key), renew=renew)


@mcp_app.callback(invoke_without_command=True)
def mcp(
    ctx: typer.Context,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    port: Annotated[int | None, typer.Option(help="HTTP port (default SOLOOS_MCP_HTTP_PORT).")] = None,
    host: Annotated[str, typer.Option(help="HTTP address; only 127.0.0.1 is accepted.")] = "127.0.0.1",
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve over stdio (a client starts `soloos mcp`), or with --http on 127.0.0.1 until stopped.
    Reads come straight from SoloOS; every write waits for your approval in chat."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.mcp import NotLoopback, check_host, serve_http, serve_stdio

    settings = settings_for(workspace)
    if not http:
        run_async(serve_stdio(settings))
        return
    try:
        check_host(host)
    except NotLoopback as error:
        raise fail(str(error)) from error
    token, new = _token(settings)
    chosen = port or settings.mcp_http_port
    if new:
        err.print(
            f"A new access token for SoloOS's MCP server (shown now, and again by `soloos mcp token`):\n{token}",
            highlight=False,
        )
    err.print(f"serving MCP on http://{host}:{chosen}/mcp (workspace {settings.workspace}); Ctrl-C to stop")
    run_async(serve_http(settings, host=host, port=chosen, token=token))
    err.print("stopped")


@mcp_app.command("token")
def token(
    renew: Annotated[bool, typer.Option("--renew", help="Make a new token; the old one stops working.")] = False,
) -> None:
    """Show the bearer token of `soloos mcp --http` (made on first use)."""
    settings = settings_for()
    value, new = _token(settings, renew=renew)
    out.print(value, highlight=False)
    if new and renew:
        err.print("The old token no longer works: update your clients' configuration.")


__all__ = ["mcp_app"]
