"""Shared fixtures: one real embedded PostgreSQL + pgvector for the session, scripted models only."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import hypothesis
import pytest
import time_machine

from bot.app import App, open_app, quiet_libraries, wire
from bot.settings import Settings
from memory import MemoryService
from tests.support.llama_server import LlamaServer
from tests.support.slack_server import FakeSlack
from tests.support.telegram_server import FakeTelegram

quiet_libraries()

# Property tests draw the same examples on every run, so a CI run cannot fail on a draw no run
# before it saw; a failure found while developing is replayed from the example database.
hypothesis.settings.register_profile("soloos", derandomize=True)
hypothesis.settings.load_profile("soloos")

BERLIN = ZoneInfo("Europe/Berlin")  # the tests' operator zone (``settings`` below)
_TRAVEL = pytest.StashKey[time_machine.travel]()
_DATABASE_CLOCK: dict[str, str] = {}  # FAKETIME for the session's database server when the clock is moved


@contextlib.contextmanager
def _database_clock() -> Iterator[None]:
    """Start the session's database server with its clock moved like ours (libfaketime, the ``faketime``
    Debian package): timestamps Postgres writes (``DEFAULT now()``) must agree with the moved clock. Only
    the server gets the library, so other child processes keep the real clock."""
    if not _DATABASE_CLOCK:
        yield
        return
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise pytest.UsageError("--clock-at needs libfaketime for the database: apt-get install faketime")
    saved = {name: os.environ.get(name) for name in ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")}
    os.environ.update(LD_PRELOAD=found[0], FAKETIME_DONT_FAKE_MONOTONIC="1", **_DATABASE_CLOCK)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _last_sunday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _next_change(now: datetime, month: int, clock: time) -> datetime:
    """The operator's wall clock just after their clocks change in ``month`` (3: forward, 10: back),
    next time: the suite then runs on a 23- or 25-hour day.
    (Not across the instant itself: which tests would straddle it depends on how fast they run.)"""
    for year in (now.year, now.year + 1):
        moment = datetime.combine(_last_sunday(year, month), clock, BERLIN)
        if moment > now:
            return moment
    raise AssertionError("unreachable")


def _late_evening(now: datetime) -> datetime:
    """23:30 tomorrow on the operator's clock: "today" there is about to end."""
    return datetime.combine(now.astimezone(BERLIN).date() + timedelta(days=1), time(23, 30), BERLIN)


def _month_end(now: datetime) -> datetime:
    """Twenty minutes before the month ends on the operator's clock (a run takes a few)."""
    local = now.astimezone(BERLIN)
    last = date(local.year + local.month // 12, local.month % 12 + 1, 1) - timedelta(days=1)
    return datetime.combine(last, time(23, 40), BERLIN)


# The moments CI moves the clock to (``--clock-at NAME``), relative to the real now so they never go stale.
MOMENTS: dict[str, Callable[[datetime], datetime]] = {
    "year-ahead": lambda now: now + timedelta(days=365),
    "spring-forward": lambda now: _next_change(now, 3, time(3, 0, 30)),  # 02:00 became 03:00
    "fall-back": lambda now: _next_change(now, 10, time(10, 0)),  # a 25-hour day, hours after its repeated hour
    "late-evening": _late_evening,
    "month-end": _month_end,
}

try:  # no test may reach a model provider
    import pydantic_ai.models

    pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
except ImportError:  # pragma: no cover - pydantic-ai is a dependency
    pass


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-at",
        default=None,
        help="Run with the clock moved: an ISO 8601 moment or one of " + ", ".join(sorted(MOMENTS)),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_clock: other processes share the session database, not its moved clock (left out by --clock-at)",
    )
    wanted = config.getoption("--clock-at")
    if wanted:
        real = datetime.now(UTC)
        moment = MOMENTS[wanted](real) if wanted in MOMENTS else datetime.fromisoformat(wanted)
        # to the millisecond: a whole-second offset put the database up to half a second behind us
        _DATABASE_CLOCK["FAKETIME"] = f"{(moment - real).total_seconds():+.3f}"
        traveller = time_machine.travel(moment, tick=True)
        traveller.start()
        config.stash[_TRAVEL] = traveller
        print(f"clock moved to {moment.isoformat()} ({wanted})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--clock-at"):
        return
    kept = [item for item in items if item.get_closest_marker("real_clock") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVEL, None)
    if traveller is not None:
        traveller.stop()


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
        # no interim "Working on it…" messages where a test counts messages: a cold first turn (the
        # embedder loading) can pass the real thresholds; tests/bot/test_progress.py sets its own
        telegram_interim_seconds=600,
        slack_interim_seconds=600,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[App]:
    """The whole application on the session's embedded server; the server is stopped at the end."""
    async with contextlib.AsyncExitStack() as stack:
        with _database_clock():
            application = await stack.enter_async_context(open_app(settings))
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
    """The session's app rewired through the composition root with a scripted model in place of the
    configured tiers (and the given caps, prices and per-turn request limit)."""
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
        changed = {
            "budget_daily_usd": float(daily),
            "budget_monthly_usd": float(monthly),
            "price_input_per_mtok": float(price_in),
            "price_output_per_mtok": float(price_out),
            "turn_request_limit": request_limit,
        }
        return wire(settings.model_copy(update=changed), app.memory, tiers=script.tiers())

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


@pytest.fixture
def clock_at() -> Iterator[Callable[[datetime], None]]:
    """Set the clock for the rest of the test (it keeps ticking from there): ``clock_at(moment)``."""
    travellers: list[time_machine.travel] = []

    def move(moment: datetime) -> None:
        traveller = time_machine.travel(moment, tick=True)
        traveller.start()
        travellers.append(traveller)

    yield move
    for traveller in reversed(travellers):
        traveller.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A local Telegram Bot API stand-in (real HTTP on 127.0.0.1, tests/support/telegram_server.py)."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A local Slack Web API stand-in (tests/support/slack_server.py)."""
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def llama() -> AsyncIterator[LlamaServer]:
    """A local stand-in for llama.cpp's OpenAI-compatible server (tests/support/llama_server.py)."""
    server = LlamaServer()
    await server.start()
    yield server
    await server.stop()
