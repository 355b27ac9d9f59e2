"""Claims on intents: a live worker's claim holds; a dead worker's claim is taken over by the
redelivery (found by bench/crash.py: a kill -9 mid-turn left the message unanswered forever)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from memory import MemoryService
from memory._conversations import Conversations


@pytest.fixture
def workers(memory: MemoryService) -> Iterator[list[Conversations]]:
    started: list[Conversations] = []

    def make() -> Conversations:
        worker = Conversations(memory.db)
        worker.start_liveness()
        started.append(worker)
        return worker

    yield [make(), make()]
    for worker in started:
        worker.stop_liveness()


async def test_a_live_workers_claim_holds_and_a_dead_workers_claim_is_taken_over(
    workers: list[Conversations], workspace: str
) -> None:
    first, second = workers
    key = f"test:{uuid.uuid4().hex}"
    assert await first.claim(key, workspace=workspace) is None  # first takes it
    assert await second.claim(key, workspace=workspace) == {}  # still working, and alive
    assert await first.claim(key, workspace=workspace) == {}  # a redelivery to the same worker waits too

    first.stop_liveness()  # kill -9: its session, and with it its liveness lock, is gone
    assert await second.claim(key, workspace=workspace) is None  # the redelivery takes over
    await second.complete(key, workspace=workspace, conversation="c", operator_text="hi", reply={"text": "hello"})
    assert await second.claim(key, workspace=workspace) == {"text": "hello"}
