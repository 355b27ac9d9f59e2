"""The policy enforcement point. Every side effect an agent (or the operator) causes goes through
``Gate.submit``: judged by the pure policy engine, then refused (audited), parked as a durable
approval, or executed by an executor inside one transaction with its idempotency key and audit
event. The model has no other way to act: its side-effect tools only build an ``Action``, and the
gated toolset submits it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic_ai import ApprovalRequired, DeferredToolRequests

from agents.gate import messages
from agents.gate.deferral import action_from_metadata, approval_metadata, decision_from_metadata
from agents.gate.executors import EXECUTORS, through_gate
from agents.gate.executors import undo as undo_effect
from agents.gate.origins import accounts_from_notes, hold_tainted, ibans_in, origin_risks, with_invitees, with_risks
from agents.gate.outcomes import Executed, Parked, Refused
from agents.untrusted import OutsideText, Taint
from connectors import ConnectorError
from memory import MemoryService, claim_effect, settle_effect
from policies import Action, Approval, AuditEvent, Decision, Policy, PolicyContext, approvals, audit, decide

log = logging.getLogger(__name__)

OPERATORS_OWN_COMMAND = Decision("allow", "operator's own command", (), True)
DRAFT_IS_TEXT = Decision("allow", "a draft version is only text; sending it goes through the gate", (), True)


@dataclass
class Gate:
    memory: MemoryService
    policy: Policy
    timezone: str
    approval_ttl: timedelta
    grace_seconds: int

    @property
    def db(self) -> Any:
        return self.memory.db

    # -- the one entry point ---------------------------------------------------------------------

    async def submit(
        self,
        action: Action,
        *,
        workspace: str,
        operator: str,
        intent_key: str | None,
        mode: str,
        key: str,
        defer: bool = False,
        tainted: bool = False,
        outside: Sequence[OutsideText] = (),
    ) -> Executed | Parked | Refused:
        """Judge ``action`` by the operator's policy, then refuse it (audited), park it for their
        approval, or carry it out exactly once for ``key``. A failed effect raises ``ConnectorError``
        after its ``action.failed`` event.

        ``defer`` is for a model run (the gated toolset): an action that needs approval raises
        pydantic-ai's ``ApprovalRequired`` instead of being parked now; the run ends with
        ``DeferredToolRequests`` and ``park_deferred`` parks it with the run's messages.

        ``tainted``: the request came in a turn whose model read outside content (``outside``, what it
        read): whatever the policy says, it waits for the operator (at least ``approve``), and every
        sensitive value found in that content is named as a risk with its source."""
        accounts = await self._known_accounts(action, workspace)
        decision = await asyncio.to_thread(
            self.judge,
            action,
            workspace=workspace,
            mode=mode,
            operator=operator,
            tainted=tainted or bool(outside),
            outside=outside,
            accounts=accounts,
        )
        if decision.level == "deny":
            await asyncio.to_thread(
                self.refuse, action, decision, workspace=workspace, operator=operator, intent_key=intent_key
            )
            return Refused(decision)
        if decision.level == "approve":
            if defer:
                raise ApprovalRequired(metadata=approval_metadata(action, decision))
            approval = await asyncio.to_thread(
                self.request_approval,
                action,
                decision,
                workspace=workspace,
                operator=operator,
                intent_key=intent_key,
                tool_call_id=f"local:{uuid.uuid4().hex}",
                run_state=None,
            )
            return Parked(approval, decision)
        return await asyncio.to_thread(
            self.execute,
            action,
            workspace=workspace,
            operator=operator,
            intent_key=intent_key,
            decision=decision,
            key=key,
        )

    def park_deferred(
        self, requests: DeferredToolRequests, run_state: object, *, workspace: str, operator: str, intent_key: str
    ) -> tuple[Approval, ...]:
        """The actions a model run left waiting for approval (``submit(..., defer=True)``), as durable
        approvals carrying the run's messages."""
        parked = []
        for call in requests.approvals:
            meta = requests.metadata.get(call.tool_call_id)
            if not meta:  # only the gate raises ApprovalRequired, always with metadata
                continue
            parked.append(
                self.request_approval(
                    action_from_metadata(meta),
                    decision_from_metadata(meta),
                    workspace=workspace,
                    operator=operator,
                    intent_key=intent_key,
                    tool_call_id=call.tool_call_id,
                    run_state=run_state,
                )
            )
        return tuple(parked)

    # -- the steps of ``submit`` ------------------------------------------------------------------

    def judge(
        self,
        action: Action,
        *,
        workspace: str,
        mode: str,
        operator: str = "",
        tainted: bool = False,
        outside: Sequence[OutsideText] = (),
        accounts: Mapping[str, frozenset[str]] | None = None,
    ) -> Decision:
        """The policy's decision, then what the gate adds in code whatever the policy says: every
        invitee waits for the operator; in a tainted turn everything does; sensitive values from
        outside content and changed bank details are named risks."""
        known = self.memory.records.known_counterparties_sync(workspace)
        now_local = self.memory.clock.local(self.timezone)
        decision = decide(action, PolicyContext(self.policy, now_local, known, mode))  # type: ignore[arg-type]
        decision = with_invitees(decision, action, operator)
        decision = with_risks(decision, origin_risks(action, outside, accounts))
        if tainted:
            decision = hold_tainted(decision, Taint(list(outside)).sources())
        return decision

    async def _known_accounts(self, action: Action, workspace: str) -> dict[str, frozenset[str]]:
        """The bank accounts the operator keeps for their own contacts (IBANs in the contact's notes)."""
        if not ibans_in(str(action.args)):
            return {}
        contacts = await self.memory.records.list_contacts(workspace=workspace)
        known = await asyncio.to_thread(self.memory.records.known_counterparties_sync, workspace)
        return accounts_from_notes((c.name, c.notes) for c in contacts if c.name.lower() in known)

    def execute(
        self,
        action: Action,
        *,
        workspace: str,
        operator: str,
        intent_key: str | None,
        decision: Decision | None,
        key: str,
        approval_id: str | None = None,
    ) -> Executed:
        """Carry out an allowed or approved action exactly once for ``key``: the step of ``submit``
        after the policy said yes, and of an approval after the operator did."""
        executor = EXECUTORS.get(action.type)
        if executor is None:
            raise ConnectorError(f"no connector can perform {action.type}")
        if action.type == "email.send":
            action = replace(action, args={**action.args, "__grace_seconds": self.grace_seconds})
        if action.type == "calendar.create":  # the outcome names the time on the operator's clock
            action = replace(action, args={**action.args, "__timezone": self.timezone})
        if action.type == "memory.write":  # its vector, made here: never stored with an approval or audit
            vector = self.memory.embedder.embed(str(action.args.get("text", ""))[:2000])
            action = replace(action, args={**action.args, "__vector": vector})
        try:
            with self.db.connection() as conn:
                earlier = claim_effect(conn, key, workspace, action.type)
                if earlier is not None:
                    return Executed(earlier or "already done", 0, repeated=True, decision=decision)
                with through_gate():
                    outcome = executor(conn, workspace, action, key, self.memory.clock.now())
                audit_id = audit.record(
                    conn,
                    _event(
                        name="action.executed",
                        action=action,
                        workspace=workspace,
                        operator=operator,
                        intent_key=intent_key,
                        decision=decision,
                        approval_id=approval_id,
                        outcome=outcome.summary,
                        undo=outcome.undo,
                    ),
                )
                settle_effect(conn, key, outcome.summary)
                if approval_id:
                    approvals.finish(conn, approval_id, ok=True, outcome=outcome.summary)
            return Executed(outcome.summary, audit_id, decision=decision)
        except ConnectorError as err:
            with self.db.connection() as conn:
                audit.record(
                    conn,
                    _event(
                        name="action.failed",
                        action=action,
                        workspace=workspace,
                        operator=operator,
                        intent_key=intent_key,
                        decision=decision,
                        approval_id=approval_id,
                        outcome=str(err),
                    ),
                )
                if approval_id:
                    approvals.finish(conn, approval_id, ok=False, outcome=str(err))
            raise

    def request_approval(
        self,
        action: Action,
        decision: Decision,
        *,
        workspace: str,
        operator: str,
        intent_key: str | None,
        tool_call_id: str,
        run_state: Any,
    ) -> Approval:
        with self.db.connection() as conn:
            approval = approvals.create(
                conn,
                workspace=workspace,
                operator=operator,
                intent_key=intent_key,
                action=action,
                decision=decision,
                tool_call_id=tool_call_id,
                run_state=run_state,
                ttl=self.approval_ttl,
            )
            audit.record(
                conn,
                _event(
                    name="action.pending",
                    action=action,
                    workspace=workspace,
                    operator=operator,
                    intent_key=intent_key,
                    decision=decision,
                    approval_id=approval.id,
                    outcome="waiting for approval",
                ),
            )
        return approval

    def refuse(
        self, action: Action, decision: Decision, *, workspace: str, operator: str, intent_key: str | None
    ) -> None:
        with self.db.connection() as conn:
            audit.record(
                conn,
                _event(
                    name="action.refused",
                    action=action,
                    workspace=workspace,
                    operator=operator,
                    intent_key=intent_key,
                    decision=decision,
                    outcome=decision.reason,
                ),
            )

    def record_turn(
        self,
        *,
        workspace: str,
        operator: str,
        intent_key: str,
        tier: str,
        requests: int,
        cost: Decimal,
        conversation: str = "",
        taint: Taint | None = None,
    ) -> None:
        """The model work behind a turn: which tier, how many requests, what it cost, and — when its
        models read outside content — what they read, so later turns that see its reply know."""
        tainted = {"conversation": conversation, "read": taint.sources()} if taint and taint.tainted else None
        with self.db.connection() as conn:
            audit.record(
                conn,
                AuditEvent(
                    name="turn.model",
                    workspace=workspace,
                    operator=operator,
                    intent_key=intent_key,
                    args=tainted,
                    outcome=f"{requests} model requests on the {tier} tier",
                    cost=cost,
                ),
            )

    async def tainted_turns(self, workspace: str, conversation: str, since: datetime) -> list[str]:
        """What the tainted model turns of ``conversation`` since ``since`` read (newest first): their
        replies are in the transcript the next turn's model sees."""

        def run() -> list[str]:
            with self.db.connection() as conn:
                records = audit.recent(conn, workspace, 200)
            return [
                str(r.event.args.get("read", ""))
                for r in records
                if r.event.name == "turn.model"
                and r.created_at >= since
                and r.event.args
                and r.event.args.get("conversation") == conversation
            ]

        return await asyncio.to_thread(run)

    async def record_draft(self, draft_id: int, *, workspace: str, operator: str, intent_key: str, outcome: str) -> int:
        """Audit a draft version an agent wrote: only text (sending it is its own gated action), but
        ``/why`` must see every version, and who asked for it."""

        def run() -> int:
            with self.db.connection() as conn:
                return audit.record(
                    conn,
                    AuditEvent(
                        name="draft.saved",
                        workspace=workspace,
                        operator=operator,
                        intent_key=intent_key,
                        action_type="draft.version",
                        args={"draft_id": draft_id},
                        decision=DRAFT_IS_TEXT,
                        outcome=outcome,
                    ),
                )

        return await asyncio.to_thread(run)

    # -- operator decisions --------------------------------------------------------------------

    async def decide_approval(
        self, token: str, *, operator: str, approve: bool, decider: str | None = None, own_requests: bool = True
    ) -> str:
        """Approve (and execute) or deny a pending approval. Safe to call twice: it acts once.
        ``decider`` and ``own_requests``: separation of duties (``policies.approvals.decide``)."""

        def run() -> str:
            with self.db.connection() as conn:
                outcome, approval = approvals.decide(
                    conn, token, operator=operator, approve=approve, decider=decider, own_requests=own_requests
                )
                if approval is not None and outcome in ("approved", "denied"):
                    audit.record(
                        conn,
                        AuditEvent(
                            name=f"approval.{outcome}",
                            workspace=approval.workspace,
                            operator=operator,
                            intent_key=approval.intent_key,
                            action_type=approval.action.type,
                            approval_id=approval.id,
                            outcome=f"{outcome} by {operator}",
                        ),
                    )
            if outcome == "unknown" or approval is None:
                return messages.UNKNOWN_APPROVAL
            if outcome == "not_yours":
                return messages.NOT_YOURS
            if outcome == "own_request":
                return messages.OWN_REQUEST
            if outcome == "expired":
                return messages.expired(approval)
            if outcome == "already_decided":
                return messages.already_decided(approval)
            if outcome == "denied":
                return messages.denied(approval)
            return self._run_approved(approval)

        return await asyncio.to_thread(run)

    def _run_approved(self, approval: Approval) -> str:
        try:
            done = self.execute(
                approval.action,
                workspace=approval.workspace,
                operator=approval.operator,
                intent_key=approval.intent_key,
                decision=None,
                key=f"approval:{approval.id}",
                approval_id=approval.id,
            )
        except ConnectorError as err:
            return messages.approved_failed(err)
        return messages.approved_done(done)

    async def edit_approval(self, token: str, *, operator: str, field: str, value: str) -> tuple[str, bool]:
        """Change one argument of a pending action; the policy judges the edited action afresh.
        Returns the reply and whether the approval is still pending."""

        def run() -> tuple[str, bool]:
            with self.db.connection() as conn:
                current = approvals.get(conn, token)
            if current is None or current.status != "pending" or current.operator != operator:
                return "There is no pending approval with that code for you. Type /approvals.", False
            editable = [k for k in current.action.args if not k.startswith("__")]
            if field not in editable:
                return f"You can edit {', '.join(editable)} of this action, not {field!r}.", True
            args = {**current.action.args, field: value}
            old = current.action
            amount = old.amount
            if field == "amount":
                try:
                    amount = Decimal(value)
                except ArithmeticError:
                    return f"{value!r} is not an amount.", True
            counterparty = value if field in ("to", "payee") else old.counterparty
            summary = old.summary if field in ("body", "subject") else f"{old.type} (edited: {field} = {value[:60]})"
            action = Action(old.type, args, summary, amount, counterparty)
            decision = self.judge(action, workspace=current.workspace, mode="deterministic")
            with self.db.connection() as conn:
                if decision.level == "deny":
                    approvals.decide(conn, token, operator=operator, approve=False)
                    audit.record(
                        conn,
                        _event(
                            name="approval.denied",
                            action=action,
                            workspace=current.workspace,
                            operator=operator,
                            intent_key=current.intent_key,
                            decision=decision,
                            approval_id=token,
                            outcome=decision.reason,
                        ),
                    )
                    return f"After that edit the policy refuses it: {decision.reason}. Nothing was done.", False
                if not approvals.revise(conn, token, operator=operator, action=action, decision=decision):
                    return "That approval was decided or expired meanwhile; nothing was changed.", False
                audit.record(
                    conn,
                    _event(
                        name="approval.edited",
                        action=action,
                        workspace=current.workspace,
                        operator=operator,
                        intent_key=current.intent_key,
                        decision=decision,
                        approval_id=token,
                        outcome=f"{field} changed",
                    ),
                )
            if decision.level in ("allow", "notify"):
                return "Edited; it no longer needs approval, but it waits for your go: approve or deny.", True
            return "Edited. Still waiting for your approval:", True

        return await asyncio.to_thread(run)

    async def resume_approved(self, workspace: str | None = None) -> list[str]:
        """After a crash: finish approvals that were approved but never executed (idempotent)."""

        def run() -> list[str]:
            with self.db.connection() as conn:
                waiting = approvals.approved_unexecuted(conn, workspace)
            return [self._run_approved(a) for a in waiting]

        return await asyncio.to_thread(run)

    async def undo_last(self, *, workspace: str, operator: str) -> str:
        def run() -> str:
            with self.db.connection() as conn:
                last = audit.last_undoable(conn, workspace, operator)
                if last is None or last.event.undo is None:
                    return "There is nothing I can undo."
                try:
                    with conn.transaction():
                        result = undo_effect(conn, workspace, last.event.undo)
                except ConnectorError as err:
                    return f"I can't undo {last.event.outcome}: {err}."
                audit.mark_undone(conn, last.id)
                audit.record(
                    conn,
                    AuditEvent(
                        name="undo",
                        workspace=workspace,
                        operator=operator,
                        action_type=last.event.action_type,
                        approval_id=last.event.approval_id,
                        outcome=f"undid #{last.id}: {result}",
                    ),
                )
            return f"Undone: {last.event.outcome} — {result}."

        return await asyncio.to_thread(run)

    async def record_operator_action(
        self,
        *,
        workspace: str,
        operator: str,
        intent_key: str | None,
        action_type: str,
        outcome: str,
        undo: dict[str, Any] | None,
    ) -> int:
        """Audit something the operator did directly (their command is the authorization)."""

        def run() -> int:
            with self.db.connection() as conn:
                return audit.record(
                    conn,
                    AuditEvent(
                        name="action.executed",
                        workspace=workspace,
                        operator=operator,
                        intent_key=intent_key,
                        action_type=action_type,
                        decision=OPERATORS_OWN_COMMAND,
                        outcome=outcome,
                        undo=undo,
                    ),
                )

        return await asyncio.to_thread(run)

    async def actions_since(self, workspace: str, since: datetime) -> list[str]:
        """Outcomes of actions carried out since ``since``, newest first."""

        def run() -> list[str]:
            with self.db.connection() as conn:
                return [
                    r.event.outcome or ""
                    for r in audit.recent(conn, workspace, 50)
                    if r.event.name == "action.executed" and r.created_at >= since and r.undone_at is None
                ]

        return await asyncio.to_thread(run)

    async def pending(self, workspace: str) -> list[Approval]:
        def run() -> list[Approval]:
            with self.db.connection() as conn:
                approvals.expire_stale(conn, workspace)
                return approvals.pending(conn, workspace)

        return await asyncio.to_thread(run)

    async def explain(self, workspace: str, ref: str) -> str:
        """``/why``: the story of an action, by audit id or approval token."""

        def run() -> str:
            with self.db.connection() as conn:
                if ref.isdigit():
                    found = audit.get(conn, workspace, int(ref))
                    records = [found] if found else []
                    if found and found.event.approval_id:
                        records = audit.for_approval(conn, found.event.approval_id)
                else:
                    records = [r for r in audit.for_approval(conn, ref) if r.event.workspace == workspace]
                if not records:
                    recent = audit.recent(conn, workspace, 1)
                    records = recent if not ref else []
            if not records:
                return f"I have no record of {ref!r}. /why takes an action number or an approval code."
            return messages.story(records)

        return await asyncio.to_thread(run)


def _event(
    *,
    name: str,
    action: Action,
    workspace: str,
    operator: str,
    intent_key: str | None,
    decision: Decision | None,
    outcome: str,
    approval_id: str | None = None,
    undo: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent(
        name=name,
        workspace=workspace,
        operator=operator,
        intent_key=intent_key,
        action_type=action.type,
        args=_public(action.args),
        decision=decision,
        approval_id=approval_id,
        outcome=outcome,
        undo=undo,
    )


def _public(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if not k.startswith("__")}


__all__ = ["OPERATORS_OWN_COMMAND", "Gate"]
