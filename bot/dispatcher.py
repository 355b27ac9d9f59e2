"""The one path every channel takes: Intent → checks → command registry (or the model) → Reply.

It enforces the limits on input, handles each idempotency key once (a redelivered message gets
the stored reply, not a second action), logs the conversation, and turns system failures into a
clear reply that says nothing was saved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from zoneinfo import ZoneInfo

from agents import AgentRunner, Gate
from agents.approval_codes import mask_codes, pending_codes
from agents.briefing import describe_miss
from agents.commands import LocalContext, Routed, answer, approval_buttons, route
from agents.failures import describe_failure
from agents.links import defang_links, domains_of
from agents.planner import Planner
from agents.status import SloTargets
from bot.intent import Intent, Reply
from bot.metrics import TURN_SECONDS
from memory import DatabaseUnavailable, InvalidInput, Learnable, MemoryService, Outgoing, StoreError

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        memory: MemoryService,
        gate: Gate,
        runner: AgentRunner,
        *,
        timezone: str,
        max_chars: int,
        signature: str | None = None,
        slo: SloTargets | None = None,
        approve_own_requests: bool = True,
        learning: bool = False,
    ) -> None:
        self.approve_own_requests = approve_own_requests
        self.learning = learning  # a model turn's message is queued for the background learner
        self.signature = signature
        self.slo = slo or SloTargets()
        self.memory = memory
        self.gate = gate
        self.runner = runner
        self.planner = Planner(memory, runner.tiers, runner.budget, runner.prices, runner.context_budget)
        self.timezone = timezone
        self.max_chars = max_chars

    async def handle(self, intent: Intent) -> Reply:
        if "\x00" in intent.text:  # Postgres text cannot hold NUL; it is never meaningful in chat
            intent = dataclasses.replace(intent, text=intent.text.replace("\x00", ""))
        size = len(intent.text)
        if size > self.max_chars:
            refused = Reply(
                f"That message is {size:,} characters; I accept at most {self.max_chars:,}. Nothing was "
                "saved. Split it into smaller messages, or import a file with `soloos memory import`.",
                ok=False,
            )
            return await self._queued_apart(intent, refused)
        routed = route(intent.text, model=self.runner.tiers.available)
        return self._shown(routed, await self._handle(intent, routed))

    @staticmethod
    def _shown(routed: Routed, reply: Reply) -> Reply:
        """Whatever the answer, when it answers a button press the command says how it is shown (an
        answer that must leave the pressed message and its buttons alone says "post" itself)."""
        on_press = routed.command.on_press if routed.command and reply.on_press != "post" else reply.on_press
        return reply if reply.on_press == on_press else dataclasses.replace(reply, on_press=on_press)

    async def _handle(self, intent: Intent, routed: Routed) -> Reply:
        try:
            previous = await self.memory.conversations.claim(intent.idempotency_key, workspace=intent.workspace)
        except DatabaseUnavailable as err:
            return self._unavailable(err, kept=intent.inbox is not None)
        if previous is not None:
            log.info("duplicate delivery of %s ignored", intent.idempotency_key)
            if previous and intent.inbox is not None:  # answered (and queued) before: this copy is done
                await self._close_inbox(intent)
            stored = Reply.from_json(previous) if previous else Reply("Still working on that message.")
            return dataclasses.replace(stored, duplicate=True, queued=intent.delivery is not None)
        path = "model" if routed.kind == "needs_model" and self.runner.tiers.available else "local"
        started = time.perf_counter()
        try:
            # the operator's zone, read once per turn (they can change it with /timezone)
            timezone = await self.memory.agent_store.get_timezone(intent.workspace, intent.operator) or self.timezone
            answered = await self._answer(intent, routed, timezone)
            reply = self._shown(routed, await self._with_notices(intent, answered, timezone))
            reply = await self._defanged(intent.workspace, reply)
            TURN_SECONDS.labels(path, "ok" if reply.ok else "failed").observe(time.perf_counter() - started)
            await self.memory.conversations.complete(
                intent.idempotency_key,
                workspace=intent.workspace,
                conversation=intent.conversation,
                operator_text=intent.text,
                reply={**reply.to_json(), "asked_by": f"{intent.channel}:{intent.channel_user}"},  # who asked
                deliver=self._outgoing(intent, reply),
                inbox=intent.inbox,
                learn=self._learnable(intent) if path == "model" else None,
            )
            return dataclasses.replace(reply, queued=intent.delivery is not None)
        except DatabaseUnavailable as err:
            await self._release(intent.idempotency_key)
            return self._unavailable(err, kept=intent.inbox is not None)
        except Exception as err:
            await self._release(intent.idempotency_key)
            named = describe_failure(err, self.runner.tiers, first="fast", outcome="nothing was changed")
            if named is None:  # a model failure that escaped is named (one warning line); anything else is ours
                log.exception("failed to handle %s", intent.idempotency_key)
            text = named or "Something went wrong on my side and nothing was changed. Please try again."
            return await self._queued_apart(intent, Reply(text, ok=False))

    async def _answer(self, intent: Intent, routed: Routed, timezone: str) -> Reply:
        try:
            if routed.kind == "needs_model" and self.runner.tiers.available:
                return await self._model_turn(intent)
            context = LocalContext(
                memory=self.memory,
                gate=self.gate,
                workspace=intent.workspace,
                operator=intent.operator,
                intent_key=intent.idempotency_key,
                timezone=timezone,
                source=f"{intent.channel}:{intent.channel_user}",
                model_configured=self.runner.tiers.available,
                budget=self.runner.budget,
                conversation=intent.conversation,
                signature=self.signature or intent.operator,
                slo=self.slo,
                planner=self.planner,
                pressed=intent.pressed,
                approve_own_requests=self.approve_own_requests,
            )
            return await answer(routed, context)
        except InvalidInput as err:
            return Reply(f"I couldn't do that: {err}.", ok=False)
        except DatabaseUnavailable:
            raise
        except StoreError as err:
            return Reply(f"I couldn't do that: {err}", ok=False)

    async def _defanged(self, workspace: str, reply: Reply) -> Reply:
        """A tainted reply shows links that could carry data defanged, on every channel."""
        if not reply.tainted:
            return reply
        known = await asyncio.to_thread(self.memory.records.known_counterparties_sync, workspace)
        return dataclasses.replace(reply, text=defang_links(reply.text, domains_of(known)))

    async def _with_notices(self, intent: Intent, reply: Reply, timezone: str) -> Reply:
        """At the next contact, say which scheduled messages were missed or could not be delivered,
        with their content, so nothing is lost silently."""
        misses = await asyncio.to_thread(self.memory.schedules.unreported_sync, intent.workspace)
        if not misses:
            return reply
        tz = ZoneInfo(timezone)
        notice = "\n".join(
            ["*Before that: these did not reach you as planned*"] + [f"- {describe_miss(m, tz)}" for m in misses[:10]]
        )
        await self.memory.schedules.mark_reported([m.id for m in misses])
        return dataclasses.replace(reply, text=f"{notice}\n\n{reply.text}")

    async def _model_turn(self, intent: Intent) -> Reply:
        mode = await self.memory.agent_store.get_mode(intent.workspace, intent.operator)
        outcome = await self.runner.run(
            mask_codes(intent.text, await pending_codes(self.memory, intent.workspace)),  # never to a model
            workspace=intent.workspace,
            operator=intent.operator,
            conversation=intent.conversation,
            intent_key=intent.idempotency_key,
            mode=mode,
        )
        buttons = approval_buttons(outcome.approvals[0].id) if outcome.approvals else ()
        return Reply(outcome.text, buttons, ok=outcome.ok, tainted=outcome.tainted)

    def _learnable(self, intent: Intent) -> Learnable | None:
        """What the background learner may learn from: the operator's own words in a model turn (never a
        button press, never what the turn read), and only with learning on."""
        if not self.learning or intent.pressed:
            return None
        return Learnable(
            workspace=intent.workspace,
            operator=intent.operator,
            said=intent.text,
            said_at=self.memory.clock.now(),
            conversation=intent.conversation,
            intent_key=intent.idempotency_key,
            delivery=intent.delivery,
        )

    @staticmethod
    def _outgoing(intent: Intent, reply: Reply) -> list[Outgoing]:
        if intent.delivery is None:
            return []
        payload = {**intent.delivery, "reply": reply.to_json()}
        return [Outgoing(intent.conversation, payload, reply.image_png, intent.idempotency_key)]

    async def _queued_apart(self, intent: Intent, reply: Reply) -> Reply:
        """A reply that answers no completed claim (a refusal, a failure) goes through the outbox too,
        closing the inbox row; if the database cannot take it, the adapter sends it itself."""
        if intent.delivery is None:
            return reply
        try:
            await self.memory.replies.queue(intent.workspace, self._outgoing(intent, reply), inbox=intent.inbox)
        except DatabaseUnavailable as err:
            log.warning("could not queue the reply to %s: %s", intent.idempotency_key, err)
            return reply
        return dataclasses.replace(reply, queued=True)

    async def _close_inbox(self, intent: Intent) -> None:
        assert intent.inbox is not None
        try:
            await self.memory.inbox.done(*intent.inbox)
        except DatabaseUnavailable:
            log.warning("could not close inbox row of %s; it will be looked at again", intent.idempotency_key)

    async def _release(self, key: str) -> None:
        try:
            await self.memory.conversations.release(key)
        except DatabaseUnavailable:
            log.warning("could not release claim %s; the database is unavailable", key)

    @staticmethod
    def _unavailable(err: DatabaseUnavailable, *, kept: bool) -> Reply:
        """``kept``: the channel stored the message before handing it over (its inbox), so it is
        handled once the database is back, and the operator must not send it again."""
        log.error("database unavailable: %s", err)
        if kept:
            return Reply(
                "I can't reach my database right now. I kept your message and will handle it as soon as "
                f"the database is back; no need to send it again. ({err})",
                ok=False,
            )
        return Reply(
            "I can't reach my database right now, so nothing from that message was saved. "
            f"Please try again in a moment. ({err})",
            ok=False,
        )
