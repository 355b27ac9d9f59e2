"""The channel outbox: one conversation's rows leave in order, a failed row holds the ones behind
it until its retry time, a live sender's row is left alone, a dead sender's row is taken over and
counted as possibly repeated."""

from __future__ import annotations

import uuid

from memory import MemoryService, Outgoing
from memory._conversations import Conversations


def _rows(conversation: str, *texts: str) -> list[Outgoing]:
    return [Outgoing(conversation, {"reply": {"text": t}}) for t in texts]


async def test_rows_leave_in_order_and_a_failed_one_holds_the_rest(memory: MemoryService, workspace: str) -> None:
    chat = f"telegram:{uuid.uuid4().int % 10**9}"
    outbox, worker = memory.replies, memory.conversations.worker
    await outbox.queue(workspace, _rows(chat, "first", "second"))
    row = await outbox.take(workspace, chat, worker)
    assert row is not None and row.payload["reply"]["text"] == "first" and row.attempts == 1
    await outbox.retry_later(row.id, "BadGateway", 300)
    assert await outbox.take(workspace, chat, worker) is None  # "second" may not overtake "first"
    assert chat not in await outbox.due_conversations("telegram", workspace)
    await outbox.retry_later(row.id, "BadGateway", -1)
    assert chat in await outbox.due_conversations("telegram", workspace)
    again = await outbox.take(workspace, chat, worker)
    assert again is not None and again.id == row.id and again.attempts == 2 and not again.resent
    await outbox.sent(again.id)
    following = await outbox.take(workspace, chat, worker)
    assert following is not None and following.payload["reply"]["text"] == "second"
    await outbox.sent(following.id)
    assert await outbox.take(workspace, chat, worker) is None and await outbox.unsent(workspace, chat) == []


async def test_a_live_senders_row_is_left_alone_and_a_dead_senders_is_taken_over(
    memory: MemoryService, workspace: str
) -> None:
    chat = f"slack:C{uuid.uuid4().hex[:8]}"
    other = Conversations(memory.db)
    other.start_liveness()
    try:
        await memory.replies.queue(workspace, _rows(chat, "hello"))
        taken = await memory.replies.take(workspace, chat, other.worker)  # the other process is sending it
        assert taken is not None
        assert await memory.replies.take(workspace, chat, memory.conversations.worker) is None
    finally:
        other.stop_liveness()  # kill -9 mid-send
    resent = await memory.replies.take(workspace, chat, memory.conversations.worker)
    assert resent is not None and resent.id == taken.id and resent.resent and resent.attempts == 2
