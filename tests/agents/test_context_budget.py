"""A turn fits the model's real context window: the window is known (setting, catalogue, or a safe
default), tools are offered by relevance when all of them would not fit comfortably, the memory
context shrinks to what is left, and a paste too big for the window is refused before anything is
sent (the issue: a 15,972-character paste sent to a 4k local model; ~1,750 fixed tokens a turn)."""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agents import ModelTiers
from agents.budget import DEFAULT_WINDOW, model_window, size_turn, tier_window
from agents.context import estimate_tokens
from agents.team import definition_text, fixed_instructions, plan_turn, tool_definitions
from tests.support.chat import FakeChat
from tests.support.models import Script


def _openai(name: str, url: str) -> OpenAIChatModel:
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=url, api_key="not-used"))


def test_the_window_comes_from_the_setting_the_catalogue_or_a_safe_default() -> None:
    hosted = _openai("gpt-4o-mini", "https://api.openai.com/v1")
    assert model_window(hosted, None, "fast").tokens == 128_000  # genai-prices, through pydantic-ai
    assert model_window(hosted, 16_000, "fast").tokens == 16_000  # SOLOOS_MODEL_FAST_CONTEXT wins
    family = _openai("qwen2.5-72b-instruct", "https://openrouter.ai/api/v1")
    assert model_window(family, None, "strong").tokens == 32_768
    # on this machine or the LAN the server decides the window, whatever the model is called
    for url in ("http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://192.168.1.20:8000/v1"):
        local = model_window(_openai("gpt-4o-mini", url), None, "fast")
        assert (local.tokens, local.source) == (DEFAULT_WINDOW, "default")
    unknown = model_window(FunctionModel(lambda m, i: ModelResponse(parts=[]), model_name="mystery"), None, "fast")
    assert unknown.tokens == 4_096 and "llama.cpp's default" in unknown.describe()


def test_the_tier_a_turn_uses_first_gives_the_window() -> None:
    fast = _openai("gpt-4o-mini", "https://api.openai.com/v1")
    local = _openai("qwen2.5-coder", "http://127.0.0.1:8080/v1")
    tiers = ModelTiers(fast=fast, strong=local, strong_context=8_192)
    assert tier_window(tiers, "fast").tokens == 128_000
    assert tier_window(tiers, "strong").tokens == 8_192
    assert tier_window(ModelTiers(fast=None, strong=local), "fast").tier == "strong"  # the only model


def test_memory_context_shrinks_to_what_the_window_leaves() -> None:
    small = model_window(FunctionModel(lambda m, i: ModelResponse(parts=[]), model_name="x"), None, "fast")
    size = size_turn(small, output=1_024, fixed=700, message=100, context_budget=1_500)
    assert size.fits and size.context == (4_096 - 1_024 - 700 - 100 - 256) // 2 < 1_500
    big = model_window(_openai("gpt-4o", "https://api.openai.com/v1"), None, "fast")
    assert size_turn(big, output=1_024, fixed=1_500, message=100, context_budget=1_500).context == 1_500
    crowded = size_turn(small, output=1_024, fixed=700, message=2_000, context_budget=1_500)
    assert crowded.fits and crowded.context == 0  # too little left: no stub of a context


def _fixed_tokens(offered: frozenset[str] | None) -> int:
    tools = tool_definitions()
    return estimate_tokens(fixed_instructions()) + sum(
        estimate_tokens(definition_text(d)) for name, d in tools.items() if offered is None or name in offered
    )


TYPICAL = [
    "find two free hours next week for the Globex workshop",
    "Acme just told me they will pay invoice 42 late",
    "draft a friendly reminder to Jane about invoice 42",
    "what did we agree with Initech about the retainer?",
    "remind me to call the accountant on Friday",
]


def test_a_small_window_is_offered_the_relevant_tools_within_800_fixed_tokens() -> None:
    tiers = Script([]).tiers(context=None)  # a local model nobody described: 4,096 tokens
    for message in TYPICAL:
        sized = plan_turn(tiers, "fast", message, output=1_024, context_budget=1_500)
        assert sized.offered is not None, message
        assert _fixed_tokens(sized.offered) == sized.size.fixed <= 800, (message, sized.size.fixed)
    free = plan_turn(tiers, "fast", TYPICAL[0], output=1_024, context_budget=1_500).offered
    assert free is not None and {"ask_scheduling", "create_event"} <= free and "create_payment" not in free
    late = plan_turn(tiers, "fast", TYPICAL[1], output=1_024, context_budget=1_500).offered
    assert late is not None and "ask_finance" in late and "send_email" not in late
    big = plan_turn(Script([]).tiers(), "fast", TYPICAL[0], output=1_024, context_budget=1_500)
    assert big.offered is None and big.size.fixed == _fixed_tokens(None) > 800  # all fit comfortably


class Recorder:
    """A coordinator that notes the tools and instructions each request offered, then answers."""

    def __init__(self) -> None:
        self.tools: list[set[str]] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.tools.append({t.name for t in info.function_tools})
        return ModelResponse(parts=[TextPart("Noted.")])


def _tiers(recorder: Recorder, context: int | None) -> ModelTiers:
    model = FunctionModel(recorder, model_name="recorder")
    return ModelTiers(fast=model, strong=model, fast_context=context, strong_context=context)


async def test_the_model_is_offered_only_the_relevant_tools_on_a_small_window(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    original, app.runner.tiers = app.runner.tiers, _tiers(recorder, None)
    try:
        await FakeChat(app, workspace).say("Could you book the Globex workshop sometime next week?")
        small = recorder.tools[-1]
        app.runner.tiers = _tiers(recorder, 128_000)
        await FakeChat(app, workspace).say("Could you book the Globex workshop sometime next week?")
        every = recorder.tools[-1]
    finally:
        app.runner.tiers = original
    assert "ask_scheduling" in small and "create_payment" not in small and "send_email" not in small
    assert {"send_email", "create_payment", "ask_scheduling", "propose_plan"} <= every and len(
        every
    ) == 15  # issue #17 added remember and correct


async def test_an_oversized_paste_is_refused_before_anything_is_sent(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    original, app.runner.tiers = app.runner.tiers, _tiers(recorder, None)  # a 4k local model, as in the issue
    paste = "Please summarise this contract for me. " + "The supplier shall deliver the goods on time. " * 340
    assert len(paste) < app.settings.max_message_chars  # under the chat's character limit
    try:
        reply = await FakeChat(app, workspace).say(paste)
    finally:
        app.runner.tiers = original
    assert recorder.tools == []  # no request was made
    assert f"about {estimate_tokens(paste):,} tokens" in reply
    assert (
        "context window is 4,096 tokens" in reply and "SOLOOS_MODEL_STRONG_CONTEXT" in reply
    )  # summarising: the strong tier
    assert "Nothing was sent to the model and nothing was done" in reply
    assert "soloos memory import" in reply and "Split it" in reply
    assert await app.memory.list(workspace) == []


async def test_a_window_too_small_for_any_message_is_named_as_the_problem(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    original, app.runner.tiers = app.runner.tiers, _tiers(recorder, 1_000)  # smaller than instructions + answer
    try:
        reply = await FakeChat(app, workspace).say("what should I do about Globex")
    finally:
        app.runner.tiers = original
    assert recorder.tools == []  # no request was made
    assert reply.startswith("The fast model's context window is 1,000 tokens (SOLOOS_MODEL_FAST_CONTEXT): too small")
    assert "lower SOLOOS_MODEL_MAX_TOKENS" in reply and "Split it" not in reply  # the message is not the problem


async def test_the_same_paste_fits_a_model_with_a_big_window(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    original, app.runner.tiers = app.runner.tiers, _tiers(recorder, 32_768)
    paste = "Please summarise this contract for me. " + "The supplier shall deliver the goods on time. " * 340
    try:
        reply = await FakeChat(app, workspace).say(paste)
    finally:
        app.runner.tiers = original
    assert reply == "Noted." and len(recorder.tools) == 1


def test_the_operators_context_settings_reach_the_tiers(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.app import model_tiers

    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")  # a llama.cpp server
    configured = settings.model_copy(
        update={
            "model_fast": "openai-chat:qwen2.5-coder",
            "model_strong": "openai-chat:gpt-4o",
            "model_strong_context": 16_384,
        }
    )
    tiers = model_tiers(configured)
    assert tier_window(tiers, "fast").tokens == DEFAULT_WINDOW  # a local server nobody described
    assert tier_window(tiers, "strong").describe() == "16,384 tokens (SOLOOS_MODEL_STRONG_CONTEXT)"


def test_the_window_is_read_through_the_wrappers_around_a_model() -> None:
    from decimal import Decimal

    from pydantic_ai.models.fallback import FallbackModel

    from agents.models import Budget, MeteredModel, Prices

    local = _openai("gpt-4o-mini", "http://127.0.0.1:8080/v1")
    hosted = _openai("gpt-4o-mini", "https://api.openai.com/v1")
    metered = MeteredModel(
        FallbackModel(hosted, local),
        store=None,  # type: ignore[arg-type]
        workspace="w",
        agent="coordinator",
        tier="fast",
        budget=Budget(Decimal(1), Decimal(1)),
        prices=Prices(Decimal(0), Decimal(0)),
    )
    assert model_window(metered, None, "fast").tokens == 128_000  # the hosted model is asked first


class InboxReader:
    """The coordinator asks research to read the inbox; research reads it and passes the size on."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        from pydantic_ai.messages import ToolCallPart, ToolReturnPart

        tools = {t.name for t in info.function_tools}
        returned = [p for m in messages for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)]
        if "read_inbox" in tools:
            if not returned:
                return ModelResponse(parts=[ToolCallPart("read_inbox", {"limit": 20})])
            self.read.append(str(returned[-1].content))
            return ModelResponse(parts=[TextPart("Five long e-mails about invoices.")])
        if not returned:
            return ModelResponse(parts=[ToolCallPart("ask_research", {"question": "what is in my inbox?"})])
        return ModelResponse(parts=[TextPart("Five long e-mails about invoices.")])


async def test_what_a_tool_reads_is_sized_to_the_window(app, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from agents.team import INBOX_BUDGET_CHARS
    from memory import NewMessage

    received = app.memory.clock.now() - timedelta(days=7)  # last week's mail
    await app.memory.messages.store(
        workspace,
        "owner@example.test",
        [
            NewMessage(
                f"<long-{n}@acme.example>",
                "jane@acme.example",
                received + timedelta(hours=n),
                "Jane",
                subject=f"Invoice {n}",
                body_text=f"Invoice {n} details. " * 250,
            )
            for n in range(5)
        ],
    )
    reader = InboxReader()
    model = FunctionModel(reader, model_name="reader")
    sizes = {}
    for window in (None, 128_000):
        tiers = ModelTiers(fast=model, strong=model, fast_context=window, strong_context=window)
        original, app.runner.tiers = app.runner.tiers, tiers
        try:
            await FakeChat(app, workspace).say("Could you look through my inbox for me?")
        finally:
            app.runner.tiers = original
        budget = plan_turn(tiers, "fast", "Could you look through my inbox for me?", output=1_024, context_budget=1_500)
        sizes[window] = len(reader.read[-1])
        assert sizes[window] <= min(INBOX_BUDGET_CHARS, budget.read_budget_chars + 200)
    assert sizes[None] < 8_000 < sizes[128_000]  # a 4k window reads a few thousand characters, not 20,000
