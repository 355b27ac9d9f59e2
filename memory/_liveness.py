"""Worker liveness: each process holds a session advisory lock on its random worker id for its
lifetime, so others can tell whether the worker that claimed something is still alive."""

from __future__ import annotations

from typing import Any

import psycopg

LIVENESS_CLASS = 0x50105  # advisory lock space of workers' liveness locks (two-int form)


def worker_alive(conn: psycopg.Connection[Any], worker: int) -> bool:
    """Whether the process with this worker id still holds its liveness lock."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LIVENESS_CLASS, worker)).fetchone()
    if row and row[0]:  # we got it, so nobody holds it: that worker is gone
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LIVENESS_CLASS, worker))
        return False
    return True
