"""One leader per name per database (the scheduler of a channel, the connector sync of a workspace):
a session advisory lock held on a connection of its own. When the holder dies its session ends, the
lock is freed, and a waiting process takes over within ``retry`` seconds.

The lock lives and dies with its connection, so a database restart takes the lead from everyone:
the holder notices on its connection (``hold`` waits on it, so at once), steps down and competes
again on a new connection, as a standby does. Stepping down must undo everything stepping up did,
a step-up that failed halfway too: ``lead`` calls ``step_down`` after any failure of ``work``."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)

Work = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]
CONNECT_TIMEOUT = 10  # seconds; a server that does not answer is a lost lead, not a hung one
# Over TCP, a server that vanished without closing the connection (a network cut, a host power loss)
# is noticed by keepalives within about 25 s, not after the kernel's retransmission timeout.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for a leadership name."""
    return zlib.crc32(f"soloos:{name}".encode())


async def lead(conninfo: str, name: str, work: Work, *, retry: float, step_down: Callable[[], None]) -> None:
    """Forever: wait for the lock, run ``work`` (which loops, using the connection to notice when it
    is lost) while holding it; when the connection or ``work`` fails, ``step_down`` and compete again."""
    lead_conninfo = make_conninfo(conninfo, connect_timeout=CONNECT_TIMEOUT, **KEEPALIVES)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(lead_conninfo, autocommit=True) as conn:
                while not await _try_lock(conn, lock_key(name)):
                    await asyncio.sleep(retry)
                log.info("%s: this process leads", name)
                await work(conn)
        except asyncio.CancelledError:
            _undo(name, step_down)
            raise
        except Exception as err:  # the database went away (or the work failed): step down, compete again
            _undo(name, step_down)
            log.warning("%s stepped down: %s; competing again in %ss", name, err, retry)
            await asyncio.sleep(retry)


async def hold(conn: psycopg.AsyncConnection[Any], seconds: float) -> None:
    """Wait ``seconds`` while holding the lead on ``conn`` (for a leader that does not LISTEN on it);
    raises as soon as the connection is lost (a database restart), not only at the end of the wait."""
    async for _ in conn.notifies(timeout=seconds):
        pass  # no notification is expected here; waiting on the socket is what notices a lost one
    await conn.execute("SELECT 1")  # still connected, so still holding the lock


def _undo(name: str, step_down: Callable[[], None]) -> None:
    try:
        step_down()
    except Exception:  # a failed step-down must not end the competition for the lead
        log.exception("%s: stepping down failed", name)


async def _try_lock(conn: psycopg.AsyncConnection[Any], key: int) -> bool:
    row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
    return bool(row and row[0])
