"""One leader per name per database (the scheduler of a channel, the connector sync of a workspace):
a session advisory lock held on a connection of its own. When the holder dies its session ends, the
lock is freed, and a waiting process takes over within ``retry`` seconds."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

log = logging.getLogger(__name__)

Work = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for a leadership name."""
    return zlib.crc32(f"soloos:{name}".encode())


async def lead(conninfo: str, name: str, work: Work, *, retry: float, step_down: Callable[[], None]) -> None:
    """Forever: wait for the lock, run ``work`` (which loops, using the connection to notice when it
    is lost) while holding it; when the connection fails, ``step_down`` and compete again."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                while not await _try_lock(conn, lock_key(name)):
                    await asyncio.sleep(retry)
                await work(conn)
        except asyncio.CancelledError:
            step_down()
            raise
        except Exception as err:  # the database went away: step down, compete again
            step_down()
            log.warning("%s stepped down: %s; competing again in %ss", name, err, retry)
            await asyncio.sleep(retry)


async def _try_lock(conn: psycopg.AsyncConnection[Any], key: int) -> bool:
    row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
    return bool(row and row[0])
