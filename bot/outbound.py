"""Messages SoloOS starts itself (reminders, briefings): the channels running in this process
register how to send to a conversation, and the scheduler sends through here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.intent import Reply

Send = Callable[[str, Reply], Awaitable[None]]  # (target within the channel, reply); raises on failure


class Unreachable(Exception):
    """No channel in this process can send to that conversation."""


class Outbound:
    def __init__(self) -> None:
        self._senders: dict[str, Send] = {}

    def register(self, channel: str, send: Send) -> None:
        self._senders[channel] = send

    def unregister(self, channel: str) -> None:
        self._senders.pop(channel, None)

    @property
    def channels(self) -> list[str]:
        return sorted(self._senders)

    def can_reach(self, conversation: str) -> bool:
        return conversation.partition(":")[0] in self._senders

    async def send(self, conversation: str, reply: Reply) -> None:
        channel, _, target = conversation.partition(":")
        sender = self._senders.get(channel)
        if sender is None:
            raise Unreachable(f"no {channel} connection is running in this process")
        await sender(target, reply)
