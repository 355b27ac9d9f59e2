"""A claim this process could not release (the database went away mid-turn) does not block the
message for good: while the turn runs a redelivery waits; after it failed, the redelivery takes it."""

from __future__ import annotations

import uuid

from memory import MemoryService


async def test_a_claim_left_by_a_failed_turn_of_this_process_is_taken_by_the_redelivery(
    memory: MemoryService, workspace: str
) -> None:
    conversations = memory.conversations
    key = f"test:{uuid.uuid4().hex}"
    assert await conversations.claim(key, workspace=workspace) is None
    assert await conversations.claim(key, workspace=workspace) == {}  # in hand: the redelivery waits
    conversations._active.discard(key)  # the turn failed and its release could not reach the database
    assert await conversations.claim(key, workspace=workspace) is None  # the sweep's redelivery takes it
    await conversations.complete(key, workspace=workspace, conversation="c", operator_text="hi", reply={"text": "ok"})
    assert await conversations.claim(key, workspace=workspace) == {"text": "ok"}
