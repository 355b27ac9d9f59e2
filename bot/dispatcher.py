"""The one path every channel takes: Intent → checks → local router → answer → Reply.

It enforces the limits on input, handles each idempotency key once (a redelivered message gets
the stored reply, not a second action), logs the conversation, and turns system failures into a
clear reply that says nothing was saved.
"""

from __future__ import annotations

import dataclasses
import logging

from agents import AgentRunner, Gate, LocalContext, answer, approval_choices, route
from bot.intent import Button, Intent, Reply
from memory import DatabaseUnavailable, InvalidMemory, MemoryError_, MemoryService

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self, memory: MemoryService, gate: Gate, runner: AgentRunner, *, timezone: str, max_chars: int
    ) -> None:
        self.memory = memory
        self.gate = gate
        self.runner = runner
        self.timezone = timezone
        self.max_chars = max_chars

    async def handle(self, intent: Intent) -> Reply:
        if "\x00" in intent.text:  # Postgres text cannot hold NUL; it is never meaningful in chat
            intent = dataclasses.replace(intent, text=intent.text.replace("\x00", ""))
        size = len(intent.text)
        if size > self.max_chars:
            return Reply(
                f"That message is {size:,} characters; I accept at most {self.max_chars:,}. Nothing was "
                "saved. Split it into smaller messages, or import a file with `soloos memory import`.",
                ok=False,
            )
        try:
            previous = await self.memory.conversations.claim(intent.idempotency_key, workspace=intent.workspace)
        except DatabaseUnavailable as err:
            return self._unavailable(err)
        if previous is not None:
            log.info("duplicate delivery of %s ignored", intent.idempotency_key)
            stored = Reply.from_json(previous) if previous else Reply("Still working on that message.")
            return dataclasses.replace(stored, duplicate=True)
        try:
            reply = await self._answer(intent)
            await self.memory.conversations.complete(
                intent.idempotency_key,
                workspace=intent.workspace,
                conversation=intent.conversation,
                operator_text=intent.text,
                reply=reply.to_json(),
            )
            return reply
        except DatabaseUnavailable as err:
            await self._release(intent.idempotency_key)
            return self._unavailable(err)
        except Exception:
            await self._release(intent.idempotency_key)
            log.exception("failed to handle %s", intent.idempotency_key)
            return Reply("Something went wrong on my side and nothing was changed. Please try again.", ok=False)

    async def _answer(self, intent: Intent) -> Reply:
        routed = route(intent.text)
        try:
            if routed.kind == "needs_model" and self.runner.tiers.available:
                return await self._model_turn(intent)
            context = LocalContext(
                memory=self.memory,
                gate=self.gate,
                workspace=intent.workspace,
                operator=intent.operator,
                intent_key=intent.idempotency_key,
                timezone=self.timezone,
                source=f"{intent.channel}:{intent.channel_user}",
                model_configured=self.runner.tiers.available,
                budget_text=f"caps ${self.runner.budget.daily} a day, ${self.runner.budget.monthly} a month",
            )
            result = await answer(routed, context)
            return Reply(result.text, tuple(Button(label, action) for label, action in result.choices), ok=result.ok)
        except InvalidMemory as err:
            return Reply(f"I couldn't do that: {err}.", ok=False)
        except DatabaseUnavailable:
            raise
        except MemoryError_ as err:
            return Reply(f"I couldn't do that: {err}", ok=False)

    async def _model_turn(self, intent: Intent) -> Reply:
        mode = await self.memory.agent_store.get_mode(intent.workspace, intent.operator)
        outcome = await self.runner.run(
            intent.text,
            workspace=intent.workspace,
            operator=intent.operator,
            conversation=intent.conversation,
            intent_key=intent.idempotency_key,
            mode=mode,
        )
        buttons: tuple[Button, ...] = ()
        if outcome.approvals:
            buttons = tuple(Button(label, action) for label, action in approval_choices(outcome.approvals[0].id))
        return Reply(outcome.text, buttons, ok=outcome.ok)

    async def _release(self, key: str) -> None:
        try:
            await self.memory.conversations.release(key)
        except DatabaseUnavailable:
            log.warning("could not release claim %s; the database is unavailable", key)

    @staticmethod
    def _unavailable(err: DatabaseUnavailable) -> Reply:
        log.error("database unavailable: %s", err)
        return Reply(
            "I can't reach my database right now, so nothing from that message was saved. "
            f"Please try again in a moment. ({err})",
            ok=False,
        )
