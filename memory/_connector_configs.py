"""Saved connector settings and health: which external systems a workspace is connected to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._postgres import Database


@dataclass(frozen=True)
class ConnectorRecord:
    name: str
    config: dict[str, Any]
    saved_at: datetime
    healthy: bool | None
    health_detail: str | None
    checked_at: datetime | None
    last_read_at: datetime | None


class ConnectorConfigs:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, workspace: str, name: str, config: dict[str, Any], *, health_detail: str) -> None:
        """Save settings that just passed their health check."""

        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    """INSERT INTO connector_configs (workspace, name, config, healthy, health_detail, checked_at)
                       VALUES (%s, %s, %s, true, %s, now())
                       ON CONFLICT (workspace, name) DO UPDATE SET config = EXCLUDED.config, saved_at = now(),
                       healthy = true, health_detail = EXCLUDED.health_detail, checked_at = now()""",
                    (workspace, name, Jsonb(config), health_detail),
                )

        await asyncio.to_thread(run)

    async def record_health(self, workspace: str, name: str, *, healthy: bool, detail: str) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    """UPDATE connector_configs SET healthy = %s, health_detail = %s, checked_at = now()
                       WHERE workspace = %s AND name = %s""",
                    (healthy, detail, workspace, name),
                )

        await asyncio.to_thread(run)

    async def mark_read(self, workspace: str, name: str) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    "UPDATE connector_configs SET last_read_at = now() WHERE workspace = %s AND name = %s",
                    (workspace, name),
                )

        await asyncio.to_thread(run)

    async def get(self, workspace: str, name: str) -> ConnectorRecord | None:
        found = [r for r in await self.all(workspace) if r.name == name]
        return found[0] if found else None

    async def all(self, workspace: str) -> list[ConnectorRecord]:
        def run() -> list[ConnectorRecord]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM connector_configs WHERE workspace = %s ORDER BY name", (workspace,)
                ).fetchall()
            return [
                ConnectorRecord(
                    name=r["name"],
                    config=r["config"],
                    saved_at=r["saved_at"],
                    healthy=r["healthy"],
                    health_detail=r["health_detail"],
                    checked_at=r["checked_at"],
                    last_read_at=r["last_read_at"],
                )
                for r in rows
            ]

        return await asyncio.to_thread(run)

    async def remove(self, workspace: str, name: str) -> bool:
        def run() -> bool:
            with self.db.connection() as conn:
                cur = conn.execute(
                    "DELETE FROM connector_configs WHERE workspace = %s AND name = %s", (workspace, name)
                )
                return cur.rowcount > 0

        return await asyncio.to_thread(run)
