"""``FakeChat``: drives the dispatcher the way an operator types, one message at a time."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from dataclasses import dataclass, field

from bot.app import App
from bot.intent import Intent, Reply


@dataclass
class FakeChat:
    app: App
    workspace: str
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    replies: list[Reply] = field(default_factory=list)

    def intent(self, text: str, key: str | None = None) -> Intent:
        return Intent(
            workspace=self.workspace,
            operator="tester",
            channel="console",
            channel_user="tester",
            conversation=f"test:{self.session}",
            text=text,
            idempotency_key=key or f"test:{self.session}:{next(self._numbers)}",
        )

    async def say(self, text: str, *, key: str | None = None) -> str:
        reply = await self.app.dispatcher.handle(self.intent(text, key))
        self.replies.append(reply)
        return reply.text

    async def press(self, action: str) -> str:
        """A button press (or a numbered choice on the console): the button's action, not typed."""
        reply = await self.app.dispatcher.handle(dataclasses.replace(self.intent(action), pressed=True))
        self.replies.append(reply)
        return reply.text


def scoped(app: App, workspace: str | None = None) -> App:
    """The same application with its settings pointed at one workspace (as a channel would see it)."""
    settings = app.settings.model_copy(update={"workspace": workspace or f"ws-{uuid.uuid4().hex[:12]}"})
    return dataclasses.replace(app, settings=settings)
