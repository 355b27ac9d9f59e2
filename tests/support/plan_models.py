"""A scripted model for planning and plan execution: the strategist and tactician answer with the
structured plans the test gives, and each specialist task answers (or fails) as the test says,
matched by a word of the task's title."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_ai.exceptions import ModelAPIError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agents import ModelTiers
from agents.models import ModelLimits
from tests.support.models import CATALOGUE_WINDOW

# What a specialist does for one task: a text answer, a failure, or a function of the attempt's
# messages (to call a tool first, say).
Behaviour = str | Exception | Callable[[list[ModelMessage]], ModelResponse]
USAGE = RequestUsage(input_tokens=200, output_tokens=50)


def task(
    key: str,
    title: str,
    owner: str,
    *,
    after: tuple[str, ...] = (),
    due: str | None = None,
    mode: str = "deterministic",
) -> dict[str, Any]:
    return {"key": key, "title": title, "owner": owner, "mode": mode, "depends_on": list(after), "due": due}


def fail(message: str = "upstream model overloaded") -> ModelAPIError:
    return ModelAPIError("scripted", message)


def prompt_of(messages: list[ModelMessage]) -> str:
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def has_tool_result(messages: list[ModelMessage], tool: str) -> bool:
    return any(
        isinstance(part, ToolReturnPart) and part.tool_name == tool
        for message in messages
        for part in getattr(message, "parts", [])
    )


@dataclass
class PlanScript:
    strategy: dict[str, Any]
    tactics: list[dict[str, Any]]  # one answer per tactician request, in order
    behaviours: dict[str, list[Behaviour]] = field(default_factory=dict)  # title word → one per attempt
    calls: Counter[str] = field(default_factory=Counter)
    prompts: dict[str, list[str]] = field(default_factory=dict)
    request_sizes: list[int] = field(default_factory=list)  # characters sent per planning request
    seen: dict[str, AgentInfo] = field(default_factory=dict)  # title word → what the specialist was given
    coordinator: list[Callable[[list[ModelMessage]], ModelResponse]] = field(default_factory=list)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        output = info.output_tools[0] if info.output_tools else None
        properties = output.parameters_json_schema.get("properties", {}) if output else {}
        if output is not None and "projects" in properties:
            self.calls["strategist"] += 1
            self.request_sizes.append(_size(messages, info))
            return ModelResponse(parts=[ToolCallPart(output.name, self.strategy)], usage=USAGE)
        if output is not None and "tasks" in properties:
            n = self.calls["tactician"]
            self.calls["tactician"] += 1
            self.request_sizes.append(_size(messages, info))
            answer = self.tactics[min(n, len(self.tactics) - 1)]
            return ModelResponse(parts=[ToolCallPart(output.name, answer)], usage=USAGE)
        if any(tool.name == "propose_plan" for tool in info.function_tools):
            n = self.calls["coordinator"]
            self.calls["coordinator"] += 1
            if n < len(self.coordinator):
                return self.coordinator[n](messages)
            return ModelResponse(parts=[TextPart("I drafted a plan; approve it when you're ready.")], usage=USAGE)
        prompt = prompt_of(messages)
        title = next((line for line in prompt.splitlines() if line.startswith("Your task:")), "")
        for word, steps in self.behaviours.items():
            if word in title:
                self.prompts.setdefault(word, []).append(prompt)
                self.seen[word] = info
                attempt = self.calls[word]
                self.calls[word] += 1
                step = steps[min(attempt, len(steps) - 1)]
                if isinstance(step, Exception):
                    raise step
                if isinstance(step, str):
                    return ModelResponse(parts=[TextPart(step)], usage=USAGE)
                return step(messages)
        self.calls["other"] += 1
        return ModelResponse(parts=[TextPart("Done: nothing special to report.")], usage=USAGE)

    def tiers(self) -> ModelTiers:
        """One model and no retries (SOLOOS_MODEL_RETRIES=0), so each scripted failure is one failed attempt;
        a catalogue model's window, so every tool is offered."""
        model = FunctionModel(self, model_name="scripted-planner")
        return ModelTiers(fast=model, strong=None, fast_context=CATALOGUE_WINDOW, limits=ModelLimits(retries=0))


def _size(messages: list[ModelMessage], info: AgentInfo) -> int:
    text = info.instructions or ""
    for message in messages:
        for part in getattr(message, "parts", []):
            text += str(getattr(part, "content", "") or "")
    return len(text)


def objective(goal: str = "Land 3 new retainer clients", *, days: int = 100) -> str:
    """An objective with a deadline the scripted steps (due within 14 days) always fit, named the way
    an operator would ("by March 2027"): a fixed month would be a test that fails when run in that
    month."""
    return f"{goal} by {datetime.now(UTC) + timedelta(days=days):%B %Y}"


def _in_days(n: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=n)).isoformat()


def retainer_plan(**behaviours: list[Behaviour]) -> PlanScript:
    """ "Land 3 new retainer clients": two projects, four steps in a chain across the projects
    (research → finance → drafting → the operator's calls)."""
    return PlanScript(
        strategy={
            "success_measure": "3 signed retainers of at least 2,000 EUR a month",
            "projects": [
                {"title": "Build the prospect list", "purpose": "know who to talk to"},
                {"title": "Outreach", "purpose": "start conversations"},
            ],
        },
        tactics=[
            {
                "tasks": [
                    task("prospects", "Research 20 agencies that fit", "research", due=_in_days(7), mode="exploratory"),
                    task("rank", "Rank the prospects by fit", "finance", after=("prospects",), due=_in_days(9)),
                ]
            },
            {
                "tasks": [
                    task(
                        "pitch",
                        "Draft the outreach pitch",
                        "drafting",
                        after=("rank",),
                        due=_in_days(12),
                        mode="creative",
                    ),
                    task("calls", "Call the top five prospects", "operator", after=("pitch",), due=_in_days(14)),
                ]
            },
        ],
        behaviours=dict(behaviours),
    )
