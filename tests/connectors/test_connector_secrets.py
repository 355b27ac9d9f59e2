"""Connector passwords are not plaintext in the database (issue 14, superseding D21): a dump of
``connector_configs`` holds none, plaintext saved before is encrypted on start, a wrong key says how
to fix it, and a rotation keeps every connector working."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from bot.settings import Settings
from connectors.email import EmailConnector
from connectors.registry import connect, saved, stored
from memory import MemoryService
from memory.secrets import KEY_FILE, is_sealed, new_key
from tests.support.mail_server import MailServer, running_mail_server

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    with running_mail_server() as server:
        yield server


def dump(memory: MemoryService) -> str:
    """Every row of ``connector_configs`` as a backup would hold it."""
    with memory.db.connection() as conn:
        rows = conn.execute("SELECT row_to_json(c)::text FROM connector_configs c").fetchall()
    return "\n".join(r[0] for r in rows)


def raw_config(memory: MemoryService, workspace: str, name: str) -> dict[str, Any]:
    with memory.db.connection() as conn:
        row = conn.execute(
            "SELECT config FROM connector_configs WHERE workspace = %s AND name = %s", (workspace, name)
        ).fetchone()
    assert row is not None
    return dict(row[0])


async def test_a_dump_holds_no_password_and_the_connector_still_signs_in(
    mail_server: MailServer, memory: MemoryService, workspace: str
) -> None:
    values = stored(mail_server.config())
    password = values["password"]

    assert (await connect(memory, workspace, "email", values)).ok

    assert password not in dump(memory)
    assert is_sealed(raw_config(memory, workspace, "email")["password"])
    connector = await saved(memory, workspace, "email")
    assert isinstance(connector, EmailConnector) and (await connector.health()).ok


async def test_plaintext_saved_before_is_encrypted_on_the_next_start(
    memory: MemoryService, workspace: str, run: Any
) -> None:
    legacy = {"url": "https://dav.example.test/", "username": "sam", "password": "legacy-plaintext-pw"}
    with memory.db.connection() as conn:
        conn.execute(
            "INSERT INTO connector_configs (workspace, name, config) VALUES (%s, 'calendar', %s)",
            (workspace, Jsonb(legacy)),
        )

    code, _, err = await asyncio.to_thread(run, "connectors")  # any command that opens the database

    assert code == 0, err
    assert "legacy-plaintext-pw" not in dump(memory)
    config = raw_config(memory, workspace, "calendar")
    assert is_sealed(config["password"]) and config["username"] == "sam"
    record = await memory.connectors.get(workspace, "calendar")
    assert record is not None and record.config["password"] == "legacy-plaintext-pw"
    sealed_once = json.dumps(config)
    await asyncio.to_thread(run, "connectors")
    assert json.dumps(raw_config(memory, workspace, "calendar")) == sealed_once  # idempotent


async def test_a_wrong_key_is_a_clear_error_naming_the_fix(
    memory: MemoryService, workspace: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await memory.connectors.save(
        workspace,
        "calendar",
        {"url": "https://dav.example.test/", "username": "sam", "password": "pw"},
        health_detail="ok",
        secret_fields={"password"},
    )
    monkeypatch.setenv("SOLOOS_SECRET_KEY", new_key())
    fix = (
        "connector secrets were encrypted with another key (the key in use comes from SOLOOS_SECRET_KEY): "
        "set SOLOOS_SECRET_KEY to the key in use, or run `soloos connect …` again to re-enter the passwords"
    )

    code, _, err = await asyncio.to_thread(run, "sync", "calendar")
    assert code == 2 and f"calendar: {fix}" in err and "Traceback" not in err

    code, out, _ = await asyncio.to_thread(run, "connectors", "--check")  # listing and health still work
    assert code == 0 and f"calendar: FAILING — calendar: {fix}" in out


async def test_rotation_re_encrypts_and_every_connector_stays_readable(
    memory: MemoryService, workspace: str, run: Any, settings: Settings
) -> None:
    await memory.connectors.save(
        workspace,
        "calendar",
        {"url": "https://dav.example.test/", "username": "sam", "password": "pw-1"},
        health_detail="ok",
        secret_fields={"password"},
    )
    key_file = settings.home / KEY_FILE
    before_key, before_token = key_file.read_text(), raw_config(memory, workspace, "calendar")["password"]

    code, out, _ = await asyncio.to_thread(run, "secrets", "rotate")

    assert code == 0 and "re-encrypted the secrets of" in out and f"the new key is in {key_file}" in out
    after_key = key_file.read_text()
    assert after_key != before_key and len(after_key.split()) == 1  # the old key is gone from the file
    assert raw_config(memory, workspace, "calendar")["password"] != before_token
    # this process still holds the old key: it reloads the file, as a restart would
    memory.connectors.secrets.replace_keys((after_key.strip(),), persist=False)
    record = await memory.connectors.get(workspace, "calendar")
    assert record is not None and record.config["password"] == "pw-1"
