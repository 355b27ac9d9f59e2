"""Saved connector settings and health: which external systems a workspace is connected to.

The fields a connector names as secret (passwords) are stored sealed by ``memory.secrets`` with a key
kept outside the database, and opened when read; a dump or backup of ``connector_configs`` holds no
secret in plaintext. Configurations saved before encryption existed are sealed by ``seal_plaintext``
(run on start; idempotent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._postgres import Database
from memory.secrets import SecretBox, SecretKeyError, is_sealed, new_key


@dataclass(frozen=True)
class ConnectorRecord:
    name: str
    config: dict[str, Any]
    saved_at: datetime
    healthy: bool | None
    health_detail: str | None
    checked_at: datetime | None
    last_read_at: datetime | None
    secret_error: str | None = None  # the secrets could not be opened (wrong key): why, and the fix


def _no_key() -> Any:
    raise SecretKeyError("no secret key is configured for connector secrets")


class ConnectorConfigs:
    def __init__(self, db: Database, secrets: SecretBox | None = None) -> None:
        self.db = db
        self.secrets = secrets or SecretBox(_no_key)

    async def save(
        self,
        workspace: str,
        name: str,
        config: dict[str, Any],
        *,
        health_detail: str,
        secret_fields: Collection[str] = (),
    ) -> None:
        """Save settings that just passed their health check; ``secret_fields`` are stored sealed."""
        config = {
            k: self.secrets.seal(v) if k in secret_fields and isinstance(v, str) else v for k, v in config.items()
        }

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
            return [self._record(r) for r in rows]

        return await asyncio.to_thread(run)

    def _record(self, row: dict[str, Any]) -> ConnectorRecord:
        """A saved row with its secrets opened; with the wrong key they stay sealed and
        ``secret_error`` says why, so listing and health still work and using it fails clearly."""
        try:
            config, problem = {k: self.secrets.open(v) for k, v in row["config"].items()}, None
        except SecretKeyError as err:
            config, problem = dict(row["config"]), str(err)
        return ConnectorRecord(
            name=row["name"],
            config=config,
            saved_at=row["saved_at"],
            healthy=row["healthy"],
            health_detail=row["health_detail"],
            checked_at=row["checked_at"],
            last_read_at=row["last_read_at"],
            secret_error=problem,
        )

    async def remove(self, workspace: str, name: str) -> bool:
        def run() -> bool:
            with self.db.connection() as conn:
                cur = conn.execute(
                    "DELETE FROM connector_configs WHERE workspace = %s AND name = %s", (workspace, name)
                )
                return cur.rowcount > 0

        return await asyncio.to_thread(run)

    def seal_plaintext(self, secret_fields: Mapping[str, Collection[str]]) -> int:
        """Seal the plaintext secrets of configurations saved before encryption (every workspace), in
        one transaction; ``secret_fields`` maps a connector name to its secret fields. Returns how
        many rows changed; a second run changes none."""
        with self.db.connection() as conn, conn.transaction():
            rows = conn.execute("SELECT workspace, name, config FROM connector_configs FOR UPDATE").fetchall()
            changed = 0
            for workspace, name, config in rows:
                fields = [f for f in secret_fields.get(name, ()) if isinstance(config.get(f), str)]
                if not fields:
                    continue
                sealed = dict(config) | {f: self.secrets.seal(config[f]) for f in fields}
                conn.execute(
                    "UPDATE connector_configs SET config = %s WHERE workspace = %s AND name = %s",
                    (Jsonb(sealed), workspace, name),
                )
                changed += 1
        return changed

    def rotate_key(self) -> tuple[int, str | None]:
        """Re-encrypt every sealed secret with a new key. The key store holds the new and the old key
        while the rows change (in one transaction), then the new key only, so a crash leaves every
        secret readable. Returns the rows changed and, when the key comes from ``SOLOOS_SECRET_KEY``
        (which SoloOS cannot change), the new key for the operator to set."""
        source = self.secrets.source
        key = new_key()
        keys = (key, *source.keys)
        if source.store is not None:
            self.secrets.replace_keys(keys)
        with self.db.connection() as conn, conn.transaction():
            rows = conn.execute("SELECT workspace, name, config FROM connector_configs FOR UPDATE").fetchall()
            changed = 0
            for workspace, name, config in rows:
                if not any(is_sealed(v) for v in config.values()):
                    continue
                resealed = {k: self.secrets.reseal(v, keys) if is_sealed(v) else v for k, v in config.items()}
                conn.execute(
                    "UPDATE connector_configs SET config = %s WHERE workspace = %s AND name = %s",
                    (Jsonb(resealed), workspace, name),
                )
                changed += 1
        self.secrets.replace_keys((key,), persist=source.store is not None)
        return changed, None if source.store is not None else key
