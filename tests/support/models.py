"""Scripted models: what a model would say, decided by the test, never by a provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agents import ModelTiers

Step = Callable[[list[ModelMessage]], ModelResponse]
CATALOGUE_WINDOW = 128_000  # what a scripted model stands in for by default: a hosted catalogue model


def call(tool: str, **args: Any) -> Step:
    return lambda _messages: ModelResponse(
        parts=[ToolCallPart(tool, args)], usage=RequestUsage(input_tokens=100, output_tokens=20)
    )


def say(text: str) -> Step:
    return lambda _messages: ModelResponse(
        parts=[TextPart(text)], usage=RequestUsage(input_tokens=100, output_tokens=20)
    )


def last_tool_result(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", []):
            if isinstance(part, ToolReturnPart):
                return str(part.content)
    return ""


@dataclass
class Script:
    """A coordinator script (one step per request) and a fixed answer for any specialist."""

    coordinator: list[Step]
    specialist: str = "Subject: Invoice 42 reminder\n\nHi Jane,\n\nA friendly reminder that invoice 42 is due.\n\nSam"
    calls: list[str] = field(default_factory=list)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        # ask_research is offered on every window (agents.tool_offer.CORE), send_email on big ones
        is_coordinator = any(tool.name in ("send_email", "ask_research") for tool in info.function_tools)
        if not is_coordinator:
            self.calls.append("specialist")
            return ModelResponse(
                parts=[TextPart(self.specialist)], usage=RequestUsage(input_tokens=80, output_tokens=40)
            )
        step = sum(1 for c in self.calls if c.startswith("coordinator"))
        self.calls.append(f"coordinator:{step}")
        if step >= len(self.coordinator):
            return ModelResponse(parts=[TextPart("Done.")], usage=RequestUsage(input_tokens=50, output_tokens=5))
        return self.coordinator[step](messages)

    def tiers(self, *, name: str = "scripted", context: int | None = CATALOGUE_WINDOW) -> ModelTiers:
        """Both tiers on this script; ``context`` is their window (default: a catalogue model's, so
        every tool is offered; None: unknown, as for a local model nobody described)."""
        model = FunctionModel(self, model_name=name)
        return ModelTiers(fast=model, strong=model, fast_context=context, strong_context=context)
