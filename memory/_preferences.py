"""Operator preferences: the agents' mode and the operator's time zone."""

from __future__ import annotations

import asyncio

from memory._postgres import Database
from memory.errors import InvalidRecord

MODES = ("exploratory", "deterministic", "creative")


class OperatorPreferences:
    """Per-operator settings of a workspace."""

    db: Database

    async def get_mode(self, workspace: str, operator: str) -> str:
        def run() -> str:
            with self.db.connection() as conn:
                row = conn.execute(
                    "SELECT mode FROM operator_prefs WHERE workspace = %s AND operator = %s", (workspace, operator)
                ).fetchone()
            return str(row[0]) if row else "deterministic"

        return await asyncio.to_thread(run)

    async def set_mode(self, workspace: str, operator: str, mode: str) -> None:
        if mode not in MODES:
            raise InvalidRecord(f"mode must be one of {', '.join(MODES)}")

        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    """INSERT INTO operator_prefs (workspace, operator, mode) VALUES (%s, %s, %s)
                       ON CONFLICT (workspace, operator) DO UPDATE SET mode = EXCLUDED.mode""",
                    (workspace, operator, mode),
                )

        await asyncio.to_thread(run)

    async def get_timezone(self, workspace: str, operator: str) -> str | None:
        def run() -> str | None:
            with self.db.connection() as conn:
                row = conn.execute(
                    "SELECT timezone FROM operator_prefs WHERE workspace = %s AND operator = %s", (workspace, operator)
                ).fetchone()
            return str(row[0]) if row and row[0] else None

        return await asyncio.to_thread(run)

    async def set_timezone(self, workspace: str, operator: str, timezone: str) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    """INSERT INTO operator_prefs (workspace, operator, timezone) VALUES (%s, %s, %s)
                       ON CONFLICT (workspace, operator) DO UPDATE SET timezone = EXCLUDED.timezone""",
                    (workspace, operator, timezone),
                )

        await asyncio.to_thread(run)
