"""Learning in the background: take queued operator messages, learn from them, say what was noted.

A round claims a few messages (``memory.LearningQueue``), learns from each (``Learns``), marks it done
and queues one short notice in the same chat ("Noted: …" / "Updated: … (was: …)") with Keep / Forget
buttons. A failed model call is tried again with a growing pause, a bounded number of times, then the
message is skipped with the reason. The spend cap stops learning without spending an attempt: the
message waits (``cap_wait``) and is tried again then, one log line each time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from agents.learning import Learns
from agents.models import BudgetExceeded
from agents.reply import Button, Reply
from memory import Learnable, LearningQueue, MemoryItem, MemoryService, Outgoing, QueuedLearning

log = logging.getLogger(__name__)

MAX_NOTED = 3  # facts named (with buttons) in one notice; more are counted


@dataclass(frozen=True)
class LearningTimings:
    lease: timedelta = timedelta(minutes=5)  # a claimed message another worker may take after this
    retry_base: timedelta = timedelta(seconds=30)  # first pause after a failure; doubles each time
    max_attempts: int = 4
    cap_wait: timedelta = timedelta(hours=1)  # the spend cap stopped it: look again after this


Notify = Callable[[Learnable, Reply], Awaitable[None]]


def notice(learned: list[MemoryItem]) -> Reply:
    """One short message naming what was learned, with Keep / Forget per fact."""
    lines = []
    buttons: list[Button] = []
    for item in learned[:MAX_NOTED]:
        text = item.text.rstrip(".")
        lines.append(f"Updated: {text} (was: {item.replaces[0].rstrip('.')})." if item.replaces else f"Noted: {text}.")
        suffix = f" {len(buttons) // 2 + 1}" if len(learned) > 1 else ""
        buttons += [
            Button(f"Keep{suffix}", f"mem:keep:{item.short_id}"),
            Button(f"Forget{suffix}", f"mem:forget:{item.short_id}"),
        ]
    if len(learned) > MAX_NOTED:
        lines.append(f"… and {len(learned) - MAX_NOTED} more (`/memory` lists them).")
    return Reply("\n".join(lines), tuple(buttons), on_press="post")


class LearningRounds:
    def __init__(
        self,
        learner: Learns,
        memory: MemoryService,
        *,
        timings: LearningTimings | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.learner = learner
        self.memory = memory
        self.queue = LearningQueue(memory.db)
        self.timings = timings or LearningTimings()
        self.notify = notify  # the console's: a chat channel's notice goes through the reply outbox

    async def tick(self, limit: int = 4, *, workspace: str | None = None) -> int:
        """Learn from up to ``limit`` waiting messages (of ``workspace``, None: of any); the number handled
        (0: nothing was waiting)."""
        claimed = await self.queue.claim(limit=limit, lease=self.timings.lease, workspace=workspace)
        for queued in claimed:
            await self._one(queued)
        return len(claimed)

    async def _one(self, queued: QueuedLearning) -> None:
        item = queued.item
        try:
            learned = await self.learner.learn(
                item.said, workspace=item.workspace, said_at=item.said_at, conversation=item.conversation
            )
        except BudgetExceeded as err:
            log.warning("learning paused by the spend cap (%s); message %d waits", err, queued.id)
            await self.queue.retry(queued.id, after=self.timings.cap_wait, error=str(err), count=False)
            return
        except Exception as err:  # a model or store failure: tried again later, a bounded number of times
            if queued.attempts >= self.timings.max_attempts:
                log.warning("learning gave up on message %d after %d attempts: %s", queued.id, queued.attempts, err)
                await self.queue.skip(queued.id, reason=f"gave up after {queued.attempts} attempts: {err}")
            else:
                pause = self.timings.retry_base * 2 ** (queued.attempts - 1)
                log.warning("learning from message %d failed (%s); trying again in %s", queued.id, err, pause)
                await self.queue.retry(queued.id, after=pause, error=str(err))
            return
        await self.queue.done(queued.id, learned=len(learned))
        if learned:
            await self._tell(item, notice(learned))

    async def _tell(self, item: Learnable, reply: Reply) -> None:
        if item.delivery is not None and item.conversation is not None:
            payload = {**item.delivery, "reply": reply.to_json()}
            payload.pop("press", None)  # a new message in the chat, not an answer to a press
            await self.memory.replies.queue(item.workspace, [Outgoing(item.conversation, payload)])
        elif self.notify is not None:
            await self.notify(item, reply)


__all__ = ["LearningRounds", "LearningTimings", "Notify", "notice"]
