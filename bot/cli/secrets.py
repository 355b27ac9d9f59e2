"""``soloos secrets rotate`` and ``soloos secrets new-key``: the key that encrypts connector passwords
(``memory.secrets``; docs/runbooks/secret-key.md).

Registered on the main app in ``bot.cli``; settings and memory come from ``bot.cli.common``.
"""

from __future__ import annotations

import asyncio

import typer

from bot.cli.common import out, settings_for, with_memory
from memory import MemoryService
from memory.secrets import ENV_NAME, new_key

secrets_app = typer.Typer(help="The key that encrypts connector passwords.", no_args_is_help=True)


@secrets_app.command("rotate")
def rotate() -> None:
    """Re-encrypt every saved connector password with a new key (stop `soloos run` first)."""
    settings = settings_for()

    async def work(memory: MemoryService) -> tuple[int, str | None, str]:
        changed, key = await asyncio.to_thread(memory.connectors.rotate_key)
        return changed, key, memory.connectors.secrets.source.where

    changed, key, where = with_memory(settings, work)
    out.print(f"re-encrypted the secrets of {changed} connector(s) with a new key", highlight=False)
    if key is None:
        out.print(f"the new key is in {where}; the old one is gone from it", highlight=False)
        return
    out.print(
        f"the key comes from {ENV_NAME}, which SoloOS cannot change: set it to the new key below "
        "before the next start (the old key no longer opens anything)",
        highlight=False,
    )
    out.print(f"{ENV_NAME}={key}", highlight=False)


@secrets_app.command("new-key")
def make_key() -> None:
    """Print a new key, for SOLOOS_SECRET_KEY."""
    out.print(new_key(), highlight=False)


__all__ = ["secrets_app"]
