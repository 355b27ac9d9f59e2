"""The gated toolset: how a model's side-effect tools reach the gate, and the only way they do.

A side-effect tool only *builds* an ``Action`` (or answers in words when there is nothing to act
on, e.g. an unknown draft number). ``GatedToolset`` wraps the toolset holding those tools (the
``WrapperToolset`` pattern of pydantic-ai's ``ApprovalRequiredToolset``): it calls the tool, and
submits the ``Action`` it returns to ``Gate.submit`` with ``defer=True``, so an action the policy
holds ends the run with ``DeferredToolRequests``. A new side-effect tool added to the toolset
cannot skip the gate: returning an ``Action`` is all it can do. The capability is checked at each
call: the wrapper passes what the run's model has read so far (``deps.taint``), so an action asked
for after outside content entered the run waits for the operator.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic_ai import RunContext
from pydantic_ai.toolsets import ToolsetTool, WrapperToolset

from agents.gate import messages
from agents.gate.outcomes import Executed, Parked, Refused
from connectors import ConnectorError
from policies import Action

if TYPE_CHECKING:
    from agents.gate._core import Gate
    from agents.untrusted import Taint


class GateDeps(Protocol):
    """What a run's deps must carry for its actions to be submitted."""

    @property
    def gate(self) -> Gate: ...
    @property
    def workspace(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def intent_key(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def taint(self) -> Taint: ...


DepsT = TypeVar("DepsT", bound=GateDeps)


@dataclass
class GatedToolset(WrapperToolset[DepsT]):
    """Every tool inside returns an ``Action`` (or a sentence); the wrapper submits the action.
    ``defer`` False (a specialist's run, which cannot end with deferred requests): an action the
    policy holds is parked at once and its approval added to the turn's notes for the operator."""

    defer: bool = True

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[DepsT], tool: ToolsetTool[DepsT]
    ) -> Any:
        built = await self.wrapped.call_tool(name, tool_args, ctx, tool)
        if not isinstance(built, Action):
            return built  # the tool found nothing to act on and says why
        deps = ctx.deps
        try:
            outcome = await deps.gate.submit(
                built,
                workspace=deps.workspace,
                operator=deps.operator,
                intent_key=deps.intent_key,
                mode=deps.mode,
                key=f"{deps.intent_key}:{ctx.tool_call_id or uuid.uuid4().hex}",
                defer=self.defer,
                tainted=deps.taint.tainted,
                outside=tuple(deps.taint.reads),
            )
        except ConnectorError as err:
            return messages.failed_to_model(err)
        if isinstance(outcome, Refused):
            return messages.refused_to_model(outcome.decision)
        if isinstance(outcome, Parked):  # only with defer=False
            deps.notes.append(messages.describe_approval(outcome.approval))
            return messages.held_to_model(outcome.approval)
        if outcome.notify:
            deps.notes.append(messages.told(outcome))
        return self.answer(built, outcome, deps)

    def answer(self, action: Action, outcome: Executed, deps: DepsT) -> str:
        """What the model is told of an action carried out (``McpToolset`` adds the tool's output)."""
        return messages.done(outcome)


__all__ = ["GateDeps", "GatedToolset"]
