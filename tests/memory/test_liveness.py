"""Worker liveness: an independent run found 811 of 1,200 concurrent probes of a dead worker
answering "alive" (the probe took the dead worker's lock for a moment, so a probe beside it saw it
held), and a live worker whose liveness connection was lost looked dead for good."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from memory import MemoryService
from memory._liveness import LIVENESS_CLASS, Liveness, worker_alive

PROBES_PER_THREAD = 150
THREADS = 8  # each on a connection of its own: 1,200 probes in all


@pytest.fixture
def holders(memory: MemoryService) -> Iterator[list[Liveness]]:
    started: list[Liveness] = []
    yield started
    for holder in started:
        holder.stop()


def _start(memory: MemoryService, holders: list[Liveness], worker: int, **timing: float) -> Liveness:
    holder = Liveness(memory.db.target.conninfo, worker, **timing)
    holder.start()
    holders.append(holder)
    return holder


def test_many_simultaneous_probes_of_dead_and_live_workers_are_all_right(
    memory: MemoryService, holders: list[Liveness]
) -> None:
    base = 2_000_000_000 + time.time_ns() % 100_000_000  # ids no other test uses
    live = [base + 1, base + 2]
    dead = [base + 3, base + 4, 2**31 - 1]  # the largest worker id too: objid is an unsigned oid
    for worker in live:
        _start(memory, holders, worker)
    ended = _start(memory, holders, base + 5)
    ended.stop()  # a worker that was alive and is gone: its lock went with its session
    dead.append(base + 5)
    expected = {**dict.fromkeys(live, True), **dict.fromkeys(dead, False)}
    order = list(expected)

    wrong: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    ready = threading.Barrier(THREADS)

    def probe(offset: int) -> None:
        try:
            with psycopg.connect(memory.db.target.conninfo, autocommit=True) as conn:
                ready.wait()  # every thread probes at the same moment
                for n in range(PROBES_PER_THREAD):
                    worker = order[(n + offset) % len(order)]
                    answer = worker_alive(conn, worker)
                    if answer != expected[worker]:
                        wrong.append((worker, answer))
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=probe, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(wrong) == 0, f"{len(wrong)} of {THREADS * PROBES_PER_THREAD} probes were wrong, e.g. {wrong[:5]}"


def test_a_probe_leaves_no_lock_behind(memory: MemoryService) -> None:
    """The probe only reads: after probing a dead worker nobody holds its lock."""
    worker = 2**31 - 2
    with psycopg.connect(memory.db.target.conninfo, autocommit=True) as conn:
        assert worker_alive(conn, worker) is False
        held = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ).fetchone()
    assert held == (0,)


def _liveness_backend(memory: MemoryService, worker: int) -> int:
    with psycopg.connect(memory.db.target.conninfo, autocommit=True) as conn:
        row = conn.execute(
            """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
                 AND classid = %s::bigint::oid AND objid = %s::bigint::oid""",
            (LIVENESS_CLASS, worker),
        ).fetchone()
    assert row is not None, "the worker holds no liveness lock"
    return int(row[0])


def test_a_live_worker_is_alive_again_soon_after_its_connection_is_lost(
    memory: MemoryService, holders: list[Liveness]
) -> None:
    """What a database restart does to one session: the worker's lock goes, and it takes it again."""
    worker = 2_100_000_000 + time.time_ns() % 10_000_000
    _start(memory, holders, worker, check_every=0.5)
    backend = _liveness_backend(memory, worker)
    with psycopg.connect(memory.db.target.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        deadline = time.monotonic() + 3
        while not worker_alive(conn, worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker_alive(conn, worker), "the live worker still looks dead 3 s after losing its connection"
    assert _liveness_backend(memory, worker) != backend  # held again, on a new session


def test_stop_lets_the_lock_go(memory: MemoryService, holders: list[Liveness]) -> None:
    worker = 2_110_000_000 + time.time_ns() % 10_000_000
    holder = _start(memory, holders, worker)
    with psycopg.connect(memory.db.target.conninfo, autocommit=True) as conn:
        assert worker_alive(conn, worker)
        holder.stop()
        assert not worker_alive(conn, worker)


@pytest.mark.parametrize("worker", [1, 2**31 - 1, -1, -(2**31)])
def test_the_probe_finds_a_lock_held_on_any_int4_id(memory: MemoryService, worker: int) -> None:
    """pg_locks shows the two keys as unsigned oids; the probe maps every int4 onto them."""
    with (
        psycopg.connect(memory.db.target.conninfo, autocommit=True) as holder,
        psycopg.connect(memory.db.target.conninfo, autocommit=True) as prober,
    ):
        assert not worker_alive(prober, worker)
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_CLASS, worker))
        assert worker_alive(prober, worker)
        assert not worker_alive(prober, worker ^ 1)  # a neighbour's id is not it
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", (LIVENESS_CLASS, worker))
        assert not worker_alive(prober, worker)


def test_a_live_worker_is_not_taken_for_dead_while_locks_come_back_after_a_restart(
    memory: MemoryService, holders: list[Liveness]
) -> None:
    """A database restart ends every session, so for a moment no worker holds its lock. A probe from a
    process that has just taken its own lock back waits until every live worker has had time to take
    theirs again: the live worker is not taken over, the dead one still is."""
    base = 2_120_000_000 + time.time_ns() % 10_000_000
    own, slow, dead = base + 1, base + 2, base + 3
    _start(memory, holders, own, check_every=0.2)  # this process's worker
    other = psycopg.connect(memory.db.target.conninfo, autocommit=True)  # another process's worker, a second slower
    other.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_CLASS, slow))
    again: list[psycopg.Connection[tuple[object, ...]]] = []

    def take_it_again() -> None:
        conn = psycopg.connect(memory.db.target.conninfo, autocommit=True)
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_CLASS, slow))
        again.append(conn)

    try:
        with psycopg.connect(memory.db.target.conninfo, autocommit=True) as prober:
            backends = [_liveness_backend(memory, own), other.info.backend_pid]
            prober.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (backends,))
            relock = threading.Timer(1.0, take_it_again)
            relock.start()
            time.sleep(0.3)  # this process has its lock back; the other worker not yet
            assert worker_alive(prober, slow), "a live worker was taken for dead after the restart"
            assert not worker_alive(prober, dead)
            relock.join()
    finally:
        for conn in (other, *again):
            conn.close()


def test_a_lost_session_the_server_still_keeps_is_ended_and_the_lock_taken_back(
    memory: MemoryService, holders: list[Liveness]
) -> None:
    """Over a cut network the server may keep the old session (and its lock) long after the worker
    reconnected: the worker ends it instead of looking dead for as long."""
    worker = 2_130_000_000 + time.time_ns() % 10_000_000
    holder = _start(memory, holders, worker, check_every=0.2)
    first = _liveness_backend(memory, worker)
    holder.stop()  # (the stand-in for the lingering session takes the lock over)
    lingering = psycopg.connect(memory.db.target.conninfo, autocommit=True)
    lingering.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_CLASS, worker))
    holder = _start(memory, holders, worker + 1, check_every=0.2)
    holder.worker = worker  # from now on it watches for that worker, whose lock the other session holds
    try:
        with psycopg.connect(memory.db.target.conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (_liveness_backend(memory, worker + 1),))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _liveness_backend_or_none(memory, worker) in (
                None,
                lingering.info.backend_pid,
            ):
                time.sleep(0.05)
        assert _liveness_backend_or_none(memory, worker) not in (None, lingering.info.backend_pid, first)
        assert lingering.closed or _broken(lingering)
    finally:
        lingering.close()


def _liveness_backend_or_none(memory: MemoryService, worker: int) -> int | None:
    try:
        return _liveness_backend(memory, worker)
    except AssertionError:
        return None


def _broken(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False
