"""Text shaped like a tool call is never an answer (the issue: a small local model whose chat
template lost the tool-call tags answered ``{"name": "send_email", …}``, which was shown and then
fed back into the next turns). It is retried once as a call, then refused in our words; it never
runs, is never shown, and never enters later context. The planner sees no unrelated earlier turns."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, RetryPromptPart, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agents import Budget, ModelTiers, Prices
from agents.context import build_context
from agents.planner import Planner
from agents.tool_text import RETRY, tool_call_in
from tests.support.chat import FakeChat
from tests.support.models import Script, call, say

SEND = json.dumps({"name": "send_email", "arguments": {"to": "jane@acme.test", "subject": "Hi", "body": "Pay up"}})


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (SEND, "send_email"),
        (f"<tool_call>\n{SEND}\n</tool_call>", "send_email"),
        (f"Sure, here it is:\n```json\n{SEND}\n```", "send_email"),
        ('[TOOL_CALLS][{"name": "create_payment", "arguments": {"amount": "50"}}]', "create_payment"),
        ('{"type": "function", "function": {"name": "functions.add_task", "arguments": "{}"}}', "add_task"),
        ('{"name": "ask_finance", "parameters": {"question": "owed?"}}', "ask_finance"),
        ("Invoice 42 is due on 1 December; Acme has paid 3 of 4.", None),
        ('The client said: "send it {name} tomorrow".', None),
        ('{"name": "Acme GmbH", "city": "Berlin"}', None),  # a JSON record is not a call
        ('{"name": "Acme Corp", "arguments": []}', None),  # a name with spaces is not a tool
    ],
)
def test_tool_call_text_is_recognised(text: str, name: str | None) -> None:
    assert tool_call_in(text) == name


def _retried(messages: list[ModelMessage]) -> bool:
    """The model was sent the feedback asking it to make the call properly."""
    return any(
        RETRY in (part.model_response() if isinstance(part, RetryPromptPart) else str(getattr(part, "content", "")))
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
    )


async def test_tool_call_text_is_retried_once_as_a_call(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    seen: list[bool] = []

    def answer(messages: list[ModelMessage]) -> ModelResponse:
        seen.append(_retried(messages))
        return ModelResponse(parts=[TextPart("Jane has not paid invoice 42 yet.")])

    app = with_model(Script([say(SEND), answer]))
    reply = await FakeChat(app, workspace).say("has Jane paid invoice 42?")
    assert reply == "Jane has not paid invoice 42 yet."
    assert seen == [True]  # the model was told to make the call properly


async def test_tool_call_text_twice_is_refused_never_shown_run_or_remembered(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    app = with_model(Script([say(SEND), say(f"<tool_call>{SEND}</tool_call>")]))
    chat = FakeChat(app, workspace)
    reply = await chat.say("write to Jane that invoice 42 is late")
    assert reply.startswith(
        "The model wrote a tool call as text (send_email) instead of making it, so nothing was done."
    )
    assert "{" not in reply and "Pay up" not in reply
    with app.memory.db.connection() as conn:
        assert conn.execute("SELECT * FROM outbox WHERE workspace = %s", (workspace,)).fetchall() == []
        assert conn.execute("SELECT * FROM approvals WHERE workspace = %s", (workspace,)).fetchall() == []
    stored = await app.memory.conversations.recent(workspace=workspace, conversation=chat.intent("").conversation)
    assert [t.text for t in stored if t.role == "assistant"] == [reply]


async def test_a_specialist_writing_a_call_as_text_ends_the_turn(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    offered_after: list[set[str]] = []

    def carry_on(messages: list[ModelMessage]) -> ModelResponse:
        return ModelResponse(parts=[TextPart("Finance says Acme owes 300 EUR; paying now.")])

    script = Script([call("ask_finance", question="what does Acme owe?"), carry_on], specialist=SEND)
    original = script.__call__

    def watching(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(script.calls) >= 3:  # the coordinator's request after the specialist's two answers
            offered_after.append({t.name for t in info.function_tools})
        return original(messages, info)

    model = FunctionModel(watching, model_name="scripted")
    app = with_model(script)
    app.runner.tiers = ModelTiers(fast=model, strong=model, fast_context=128_000, strong_context=128_000)
    reply = await FakeChat(app, workspace).say("what does Acme owe us?")
    # the specialist asked once to make the call properly; the third is the coordinator, offered no
    # tool any more (the script tells them apart by the tools offered)
    assert script.calls == ["coordinator:0", "specialist", "specialist", "specialist"]
    assert reply.startswith("The model wrote a tool call as text (send_email)")
    assert "paying now" not in reply
    assert offered_after and offered_after[0] == set()  # no tool is left once it happened


async def test_stored_replies_shaped_like_tool_calls_stay_out_of_the_context(memory, workspace: str) -> None:  # type: ignore[no-untyped-def]
    for n, (said, answered) in enumerate([("chase Jane", SEND), ("and Acme?", "Acme paid on Monday.")]):
        await memory.conversations.complete(
            f"{workspace}:{n}",
            workspace=workspace,
            conversation="c",
            operator_text=said,
            reply={"text": answered},
        )
    context = await build_context(memory, workspace=workspace, conversation="c", message="x", budget_tokens=1_500)
    assert "Acme paid on Monday." in context.text and "chase Jane" in context.text
    assert "send_email" not in context.text and "Pay up" not in context.text


async def test_the_planner_is_not_steered_by_unrelated_earlier_turns(memory, workspace: str) -> None:  # type: ignore[no-untyped-def]
    await memory.conversations.complete(
        f"{workspace}:0",
        workspace=workspace,
        conversation="c",
        operator_text="I keep thinking about launching a line of Biscuit-the-cat mugs",
        reply={"text": "Noted."},
    )
    prompts: list[str] = []

    def planner_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts.append(info.instructions or "")
        raise RuntimeError("enough: the prompt is what this test looks at")

    tiers = ModelTiers(fast=FunctionModel(planner_model, model_name="planner"), strong=None)
    planner = Planner(memory, tiers, Budget(Decimal(5), Decimal(50)), Prices(Decimal(0), Decimal(0)), 1_500)
    with pytest.raises(RuntimeError, match="enough"):
        await planner.draft(
            "Land 3 new retainer clients by March",
            workspace=workspace,
            operator="tester",
            conversation="c",
            timezone="Europe/Berlin",
        )
    assert prompts and "Land 3 new retainer clients" in prompts[0]
    assert "Biscuit" not in prompts[0]
