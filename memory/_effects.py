"""The side-effect ledger: one row per idempotency key, claimed in the same transaction as the
effect, so an effect happens once per key however often it is retried."""

from __future__ import annotations

from typing import Any

import psycopg


def claim_effect(conn: psycopg.Connection[Any], key: str, workspace: str, action_type: str) -> str | None:
    """Reserve an idempotency key in the caller's transaction. Returns the earlier result when the
    effect already happened (the caller must then not act again), else None."""
    row = conn.execute(
        """INSERT INTO side_effects (idempotency_key, workspace, action_type, result) VALUES (%s, %s, %s, '')
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1""",
        (key, workspace, action_type),
    ).fetchone()
    if row is not None:
        return None
    done = conn.execute("SELECT result FROM side_effects WHERE idempotency_key = %s", (key,)).fetchone()
    return str(done[0]) if done else ""


def settle_effect(conn: psycopg.Connection[Any], key: str, result: str) -> None:
    conn.execute("UPDATE side_effects SET result = %s WHERE idempotency_key = %s", (result, key))


__all__ = ["claim_effect", "settle_effect"]
