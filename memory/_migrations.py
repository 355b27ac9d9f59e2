"""Versioned, idempotent schema migrations: ``migrations/NNNN_name.sql`` applied in order.

Each file runs once, inside a transaction that holds an advisory lock, so two processes starting
together apply it exactly once and a failed migration leaves nothing half-applied.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import psycopg

_LOCK_ID = 0x5010_0005  # advisory lock key for "soloos migrations"


def _migration_files() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("memory").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql"):
            version = int(name.split("_", 1)[0])
            found.append((version, name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply pending migrations; return the names applied (empty when already current)."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations")}
        for version, name, sql in _migration_files():
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in done:
                if done[version] != checksum:
                    raise RuntimeError(f"migration {name} changed after it was applied; add a new migration instead")
                continue
            conn.execute(sql.encode())  # trusted files shipped with the package
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (version, name, checksum),
            )
            applied_now.append(name)
    return applied_now


def current_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0
