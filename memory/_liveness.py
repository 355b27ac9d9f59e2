"""Worker liveness: each process holds a session advisory lock on its random worker id for its
lifetime, so others can tell whether the worker that claimed something is still alive.

The probe only *reads* ``pg_locks``: it never takes the lock it asks about, so probes running side
by side cannot make a dead worker look alive to each other (the old try-lock-and-unlock probe held
a dead worker's lock for a moment, and 811 of 1,200 concurrent probes answered "alive").

The holder (``Liveness``) keeps its lock on a connection of its own and takes it again when that
connection is lost — a database restart, a terminated session — within about ``max_backoff``
seconds of the server accepting connections again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from typing import Any

import psycopg

log = logging.getLogger(__name__)

LIVENESS_CLASS = 0x50105  # advisory lock space of workers' liveness locks (two-int form)

# A lock taken as pg_advisory_lock(int4, int4) shows in pg_locks as classid = first key,
# objid = second key — both oids, i.e. the int4's 32 bits read unsigned — and objsubid = 2.
_HELD = """SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = ((%(space)s::int4)::int8 & 4294967295)::oid
      AND objid = ((%(worker)s::int4)::int8 & 4294967295)::oid)"""


def worker_alive(conn: psycopg.Connection[Any], worker: int) -> bool:
    """Whether the process with this worker id still holds its liveness lock (a read: it takes no lock)."""
    row = conn.execute(_HELD, {"space": LIVENESS_CLASS, "worker": worker}).fetchone()
    return bool(row and row[0])


class Liveness:
    """Holds ``worker``'s liveness lock on a connection of its own from ``start`` to ``stop``.

    A thread watches the connection (it wakes at once when the server closes it, and checks it every
    ``check_every`` seconds anyway) and, once it is lost, reconnects and takes the lock again, retrying
    with a backoff from 0.1 s up to ``max_backoff`` seconds while the server is away.
    """

    def __init__(
        self,
        conninfo: str,
        worker: int,
        *,
        check_every: float = 1.0,
        max_backoff: float = 1.0,
        connect_timeout: int = 5,
    ) -> None:
        self.conninfo = conninfo
        self.worker = worker
        self.check_every = check_every
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._stopping = threading.Event()
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the lock now (a database that cannot be reached raises), then keep it."""
        conn = self._acquire()
        if conn is None:
            raise RuntimeError(f"worker id {self.worker} is already held by another session")
        self._conn = conn
        self._stopping.clear()
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"liveness-{self.worker}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Let the lock go (the session ends) and stop watching."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        assert self._wake is not None
        os.write(self._wake[1], b"x")
        thread.join(timeout=self.connect_timeout + 5)
        if not thread.is_alive():  # else it is stuck connecting; it ends (and closes) on its own
            for fd in self._wake:
                os.close(fd)
        self._wake = None

    def _acquire(self) -> psycopg.Connection[Any] | None:
        conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout)
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LIVENESS_CLASS, self.worker)).fetchone()
        except BaseException:
            conn.close()
            raise
        if row and row[0]:
            return conn
        conn.close()  # our previous session has not ended yet on the server: try again shortly
        return None

    def _run(self) -> None:
        delay = 0.0
        try:
            while not self._stopping.is_set():
                if self._conn is None:
                    if self._sleep(delay):
                        return
                    try:
                        self._conn = self._acquire()
                    except psycopg.Error as err:
                        log.debug("worker %s: cannot take its liveness lock yet: %s", self.worker, err)
                    if self._conn is None:
                        delay = min(self.max_backoff, max(0.1, delay * 2))
                        continue
                    log.info("worker %s holds its liveness lock again", self.worker)
                    delay = 0.0
                if self._watch(self._conn):
                    return
                try:
                    self._conn.execute("SELECT 1")
                except psycopg.Error as err:
                    log.warning("worker %s lost its liveness lock (%s); taking it again", self.worker, err)
                    with contextlib.suppress(Exception):
                        self._conn.close()
                    self._conn = None
        finally:
            if self._conn is not None:
                with contextlib.suppress(Exception):  # at once: the session's end is seen a moment later
                    self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LIVENESS_CLASS, self.worker))
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def _watch(self, conn: psycopg.Connection[Any]) -> bool:
        """Wait until the server says something on the connection, or ``check_every`` passes.
        True when stopping."""
        wake = self._wake
        if wake is None:
            return True
        # the socket may be gone already: the check after this tells
        with contextlib.suppress(OSError, ValueError, psycopg.Error):
            select.select([conn.fileno(), wake[0]], [], [], self.check_every)
        return self._stopping.is_set()

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (woken early by ``stop``). True when stopping."""
        wake = self._wake
        if wake is None:
            return True
        if seconds > 0:
            with contextlib.suppress(OSError, ValueError):
                select.select([wake[0]], [], [], seconds)
        return self._stopping.is_set()
