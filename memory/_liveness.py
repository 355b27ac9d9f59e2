"""Worker liveness: each process holds a session advisory lock on its random worker id for its
lifetime, so others can tell whether the worker that claimed something is still alive.

The probe only *reads* ``pg_locks``: it never takes the lock it asks about, so probes running side
by side cannot make a dead worker look alive to each other (the old try-lock-and-unlock probe held
a dead worker's lock for a moment, and 811 of 1,200 concurrent probes answered "alive").

The holder (``Liveness``) keeps its lock on a connection of its own and takes it again when that
connection is lost — a database restart, a terminated session — within about ``max_backoff``
seconds of the server accepting connections again.

A restart ends every session, so for that second no live worker holds its lock. A missing lock is
therefore only taken as death once this process's own holders have held theirs for ``SETTLE_SECONDS``
(longer than any live worker needs to take its lock back): until then ``worker_alive`` waits. So a
live worker's claims are never taken over, not even right after a restart; a dead worker's are, at
most a few seconds later than otherwise, and only after a restart or this process's start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import weakref
from typing import Any

import psycopg

log = logging.getLogger(__name__)

LIVENESS_CLASS = 0x50105  # advisory lock space of workers' liveness locks (two-int form)

# A lock taken as pg_advisory_lock(int4, int4) shows in pg_locks as classid = first key,
# objid = second key — both oids, i.e. the int4's 32 bits read unsigned — and objsubid = 2.
_MATCH = """locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = ((%(space)s::int4)::int8 & 4294967295)::oid
      AND objid = ((%(worker)s::int4)::int8 & 4294967295)::oid"""
_HELD = f"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE {_MATCH})"


SETTLE_SECONDS = 3.0  # a live worker has its lock back this long after ours is back (ours: max_backoff, 1 s)
MAX_WAIT_SECONDS = 15.0  # a probe waits at most this long for this process's own locks to settle

# This process's running holders: a probe reads from them whether its own locks have settled.
_holders: weakref.WeakSet[Liveness] = weakref.WeakSet()
_holders_lock = threading.Lock()


def worker_alive(conn: psycopg.Connection[Any], worker: int) -> bool:
    """Whether the process with this worker id still holds its liveness lock (a read: it takes no lock).

    A lock found missing while this process's own locks are not settled (just taken again after a
    restart, or being taken again) is looked at again once they are.
    """
    if _held(conn, worker):
        return True
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    waited = False
    while (left := _unsettled()) > 0 and time.monotonic() < deadline:
        time.sleep(min(left, 0.1))
        waited = True
    return _held(conn, worker) if waited else False


def _held(conn: psycopg.Connection[Any], worker: int) -> bool:
    row = conn.execute(_HELD, {"space": LIVENESS_CLASS, "worker": worker}).fetchone()
    return bool(row and row[0])


def _unsettled() -> float:
    """Seconds until every holder of this process has held its lock for ``SETTLE_SECONDS``."""
    now = time.monotonic()
    with _holders_lock:
        since = [holder.held_since for holder in _holders]
    if any(at is None for at in since):
        return SETTLE_SECONDS  # one is still taking its lock back
    return max((at + SETTLE_SECONDS - now for at in since if at is not None), default=0.0)


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
        self.held_since: float | None = None  # monotonic time the lock was (last) taken; None: being taken
        self._stopping = threading.Event()
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the lock now (a database that cannot be reached raises), then keep it."""
        conn = self._acquire()
        if conn is None:
            raise RuntimeError(f"worker id {self.worker} is already held by another session")
        self._conn = conn
        self.held_since = time.monotonic()
        with _holders_lock:
            _holders.add(self)
        self._stopping.clear()
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"liveness-{self.worker}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Let the lock go (the session ends) and stop watching."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with _holders_lock:
            _holders.discard(self)
        self._stopping.set()
        assert self._wake is not None
        os.write(self._wake[1], b"x")
        thread.join(timeout=self.connect_timeout + 5)
        if not thread.is_alive():  # else it is stuck connecting; it ends (and closes) on its own
            for fd in self._wake:
                os.close(fd)
        self._wake = None

    def _acquire(self, *, take_back: bool = False) -> psycopg.Connection[Any] | None:
        """A new session holding the lock; None if another session holds it. ``take_back``: that one
        is our own lost session, which the server has not noticed yet (a cut network): end it."""
        conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout)
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LIVENESS_CLASS, self.worker)).fetchone()
            if row and row[0]:
                return conn
            if take_back:
                conn.execute(
                    f"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE pid <> pg_backend_pid() AND {_MATCH}",
                    {"space": LIVENESS_CLASS, "worker": self.worker},
                )
        except BaseException:
            conn.close()
            raise
        conn.close()  # try again shortly
        return None

    def _run(self) -> None:
        delay = 0.0
        try:
            while not self._stopping.is_set():
                if self._conn is None:
                    if self._sleep(delay):
                        return
                    try:
                        self._conn = self._acquire(take_back=True)
                    except psycopg.Error as err:
                        log.debug("worker %s: cannot take its liveness lock yet: %s", self.worker, err)
                    if self._conn is None:
                        delay = min(self.max_backoff, max(0.1, delay * 2))
                        continue
                    self.held_since = time.monotonic()
                    log.info("worker %s holds its liveness lock again", self.worker)
                    delay = 0.0
                if self._watch(self._conn):
                    return
                try:
                    self._conn.execute("SELECT 1")
                except psycopg.Error as err:
                    self.held_since = None
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
