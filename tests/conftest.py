"""Shared fixtures: one real embedded PostgreSQL + pgvector for the session, scripted models only."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import App, open_app, quiet_libraries
from bot.settings import Settings
from memory import MemoryService

quiet_libraries()

try:  # no test may reach a model provider
    import pydantic_ai.models

    pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
except ImportError:  # pragma: no cover - pydantic-ai is a dependency
    pass


@pytest.fixture(scope="session")
def soloos_home() -> Iterator[Path]:
    """A fresh SOLOOS_HOME, or the external DATABASE_URL when the environment provides one."""
    home = Path(tempfile.mkdtemp(prefix="soloos-test-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A private temporary directory outside pytest's ``/tmp/pytest-of-<user>``: every pytest run
    resets that folder to mode 0700, which locks the embedded server's system user out of a data
    directory inside it when two test runs overlap on one machine."""
    path = Path(tempfile.mkdtemp(prefix="soloos-tmp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(soloos_home: Path) -> Settings:
    return Settings(
        home=soloos_home,
        _env_file=None,  # type: ignore[call-arg]
        database_url=os.environ.get("DATABASE_URL"),
        timezone="Europe/Berlin",
        model_fast=None,
        model_strong=None,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[App]:
    """The whole application on the session's embedded server; the server is stopped at the end."""
    async with open_app(settings) as application:
        yield application


@pytest.fixture(scope="session")
def memory(app: App) -> MemoryService:
    return app.memory


@pytest.fixture
def workspace() -> str:
    """Each test works in its own workspace, which is also how operators are isolated."""
    return f"ws-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def with_model(app: App, settings: Settings):  # type: ignore[no-untyped-def]
    """The session's app with a scripted model in place of the configured tiers."""
    from decimal import Decimal

    from pydantic_ai.usage import UsageLimits

    from agents import AgentRunner, Budget, Prices
    from bot.dispatcher import Dispatcher
    from tests.support.models import Script

    def build(
        script: Script,
        *,
        daily: str = "5",
        monthly: str = "50",
        price_in: str = "0",
        price_out: str = "0",
        request_limit: int = 8,
    ) -> App:
        runner = AgentRunner(
            app.memory,
            app.gate,
            script.tiers(),
            Budget(Decimal(daily), Decimal(monthly)),
            Prices(Decimal(price_in), Decimal(price_out)),
            UsageLimits(request_limit=request_limit),
            settings.context_token_budget,
        )
        dispatcher = Dispatcher(
            app.memory, app.gate, runner, timezone=settings.timezone, max_chars=settings.max_message_chars
        )
        return dataclasses.replace(app, runner=runner, dispatcher=dispatcher)

    return build


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, settings: Settings, workspace: str, app: App):  # type: ignore[no-untyped-def]
    """The ``soloos`` command line in this process, on the session's database and the test's workspace."""
    from typer.testing import CliRunner

    from bot.cli import app as cli

    monkeypatch.setenv("SOLOOS_HOME", str(settings.home))
    monkeypatch.setenv("SOLOOS_WORKSPACE", workspace)
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args))
        return result.exit_code, result.stdout, result.stderr

    return invoke
