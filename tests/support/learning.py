"""A scripted model that answers mem0's real extraction prompt (matched on its system prompt) with
JSON in mem0's format, and a coordinator ``Script`` for everything else."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, SystemPromptPart, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agents import ModelTiers
from tests.support.models import CATALOGUE_WINDOW, Script

MEM0_SYSTEM_MARK = "Memory Extractor"  # mem0's ADDITIVE_EXTRACTION_PROMPT names its role so


def mem0_json(*lines: str) -> str:
    return json.dumps({"memory": [{"id": str(i), "text": line} for i, line in enumerate(lines)]})


def new_messages(prompt: str) -> str:
    """The "## New Messages" section of mem0's user prompt (what the operator said)."""
    start = prompt.index("## New Messages")
    end = prompt.index("## Observation Date", start)
    return prompt[start:end]


def existing_memories(prompt: str) -> str:
    start = prompt.index("## Existing Memories")
    end = prompt.index("## New Messages", start)
    return prompt[start:end]


@dataclass
class Extractor:
    """``answers``: a word of the operator's message → the model's raw answer (mem0 JSON or garbage)."""

    answers: dict[str, str] = field(default_factory=dict)
    script: Script = field(default_factory=lambda: Script([]))
    prompts: list[str] = field(default_factory=list)  # every extraction prompt (system + user), in order
    events: list[str] = field(default_factory=list)  # "extract" per extraction request, for ordering
    on_extract: Callable[[], None] | None = None

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        system = user = ""
        for message in messages:
            if isinstance(message, ModelRequest):
                for part in message.parts:
                    if isinstance(part, SystemPromptPart):
                        system += part.content
                    elif isinstance(part, UserPromptPart):
                        user += str(part.content)
        if MEM0_SYSTEM_MARK not in system:
            return self.script(messages, info)
        self.prompts.append(f"{system}\n{user}")
        self.events.append("extract")
        if self.on_extract is not None:
            self.on_extract()
        said = new_messages(user)
        answer = next((a for word, a in self.answers.items() if word in said), '{"memory": []}')
        tokens = (len(system) + len(user)) // 4
        return ModelResponse(parts=[TextPart(answer)], usage=RequestUsage(input_tokens=tokens, output_tokens=60))

    def tiers(self, *, context: int | None = CATALOGUE_WINDOW) -> ModelTiers:
        model = FunctionModel(self, model_name="scripted")
        return ModelTiers(fast=model, strong=model, fast_context=context, strong_context=context)
