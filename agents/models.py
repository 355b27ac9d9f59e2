"""Model tiers and the meter every model request passes through.

Tiers: ``local`` (no model: the router and local tier), ``fast`` and ``strong`` (pydantic-ai model
strings from settings; either falls back to the other on API errors). ``MeteredModel`` wraps every
model: it serves identical requests from the cache, reserves the request's estimated cost against
the hard daily and monthly caps *before* sending it (atomically with every other turn, in any
process: ``memory._spend``), and settles the real price into the spend ledger.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from genai_prices import calc_price
from prometheus_client import Counter, Histogram
from pydantic_ai import RunContext
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelQuotaExceededError,
    ModelRequestRejectedError,
    ModelRequestTimeout,
)
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse, infer_model
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage

from memory import AgentStore, CapReached

log = logging.getLogger(__name__)

Tier = Literal["local", "fast", "strong"]

CHARS_PER_TOKEN = 4  # close enough to budget with, and model-independent (as agents.context estimates)
OUTPUT_ALLOWANCE = 1_024  # tokens a reply may use when the request sets no max_tokens: priced into the estimate

# What each operator mode means for a model request (exploratory gathers, deterministic follows the
# rules exactly, creative drafts variants).
MODE_SETTINGS: dict[str, ModelSettings] = {
    "deterministic": {"temperature": 0.0},
    "exploratory": {"temperature": 0.3},
    "creative": {"temperature": 0.9},
}

_VOLATILE = {
    "timestamp",
    "provider_response_id",
    "provider_request_id",
    "run_id",
    "tool_call_id",
    "provider_details",
    "id",
    "conversation_id",
}


class BudgetExceeded(Exception):
    """The hard spend cap would be crossed: no model request was made."""

    def __init__(self, period: str, spent: Decimal, cap: Decimal) -> None:
        self.period, self.spent, self.cap = period, spent, cap
        super().__init__(f"{period} model budget reached: ${spent:.4f} spent of ${cap:.2f}")


class PriceUnknown(BudgetExceeded):
    """The model's price is unknown and none is configured, so the spend cap cannot be enforced: no model
    request was made (a cap that cannot be enforced must not look enforced)."""

    def __init__(self, model: str, period: str, cap: Decimal) -> None:
        self.model = model
        self.period, self.spent, self.cap = period, Decimal(0), cap
        Exception.__init__(
            self,
            f"I can't enforce your ${cap:.2f} {period} cap: the price of {model} is unknown. Set "
            "SOLOOS_PRICE_INPUT_PER_MTOK and SOLOOS_PRICE_OUTPUT_PER_MTOK (USD per million tokens; 0 for a free "
            "model) and I will go on",
        )


@dataclass(frozen=True)
class Prices:
    """The operator's price for models the price catalogue does not know (None: not set, which is not 0)."""

    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None

    @property
    def configured(self) -> bool:
        return self.input_per_mtok is not None or self.output_per_mtok is not None


Pricing = Literal["list", "configured", "local", "unknown"]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def layers(model: Model) -> Iterator[Model]:
    """``model`` and each model it wraps, down to the first real one (a fallback chain: its first)."""
    while True:
        yield model
        if isinstance(model, FallbackModel):
            model = model.models[0]
        elif isinstance(model, WrapperModel):
            model = model.wrapped
        else:
            return


def base_model(model: Model) -> Model:
    """The first real model behind the wrappers and fallback chains SoloOS puts around it."""
    *_, found = layers(model)
    return found


def model_label(model: Model) -> str:
    model = base_model(model)
    return f"{model.system}:{model.model_name}"


def is_local(model: Model) -> bool:
    """Served from this machine (127.0.0.1, localhost, ::1), or run in this process (a scripted
    ``FunctionModel``/``TestModel``, no service at all): a model that costs nothing per token."""
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.models.test import TestModel

    model = base_model(model)
    if isinstance(model, (FunctionModel, TestModel)):
        return True
    url = getattr(model, "base_url", None)
    return bool(url) and (urlsplit(str(url)).hostname or "") in LOCAL_HOSTS


def list_price(model: Model, usage: RequestUsage) -> Decimal | None:
    """The catalogue (genai-prices) price of ``usage`` on ``model``, None when the model is unknown."""
    model = base_model(model)
    url = getattr(model, "base_url", None)
    try:
        found = (
            calc_price(usage, model.model_name, provider_api_url=url)
            if url
            else calc_price(usage, model.model_name, provider_id=model.system)
        )
    except (LookupError, ValueError):
        return None
    return Decimal(str(found.total_price))


def pricing(model: Model, prices: Prices) -> Pricing:
    """How ``model``'s requests are priced: its list price when the catalogue knows it (the configured
    prices are for unknown models only), else the configured prices, else free when served from this
    machine, else unknown."""
    if list_price(model, RequestUsage(input_tokens=1_000, output_tokens=1_000)) is not None:
        return "list"
    if prices.configured:
        return "configured"
    return "local" if is_local(model) else "unknown"


@dataclass(frozen=True)
class Budget:
    daily: Decimal
    monthly: Decimal


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def cache_key(
    workspace: str,
    model_name: str,
    messages: list[ModelMessage],
    settings: ModelSettings | None,
    params: ModelRequestParameters,
) -> str:
    """Same workspace, model, messages (ignoring timestamps and ids), settings and tools → same key.

    The messages carry the memory context, so a changed memory is a different key."""
    payload = {
        "workspace": workspace,
        "model": model_name,
        "messages": _strip(ModelMessagesTypeAdapter.dump_python(messages, mode="json")),
        "settings": settings or {},
        "tools": [t.name for t in params.function_tools],
        "output": [t.name for t in params.output_tools],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# Per-agent model latency and failures, in process (the totals of requests, tokens and cost come
# from the spend ledger); ``bot.metrics`` registers them with the Prometheus endpoint.
MODEL_SECONDS = Histogram(
    "soloos_model_request_seconds",
    "Model request latency by agent and tier (cache hits excluded)",
    ["agent", "tier"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
    registry=None,
)
MODEL_FAILURES = Counter(
    "soloos_model_failures", "Model requests that failed, by agent and tier", ["agent", "tier"], registry=None
)


class MeteredModel(WrapperModel):
    """Cache → cap check → request → price → ledger, for one agent on one tier."""

    def __init__(
        self,
        wrapped: Model,
        *,
        store: AgentStore,
        workspace: str,
        agent: str,
        tier: Tier,
        budget: Budget,
        prices: Prices,
        spent: list[Decimal] | None = None,
    ) -> None:
        super().__init__(wrapped)
        self.store, self.workspace, self.agent, self.tier = store, workspace, agent, tier
        self.budget, self.prices = budget, prices
        self.spent = spent if spent is not None else []  # this turn's costs, shared by all its agents
        self.pricing = pricing(wrapped, prices)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        key = cache_key(self.workspace, self.wrapped.model_name, messages, model_settings, model_request_parameters)
        cached = await asyncio.to_thread(self._cached, key)
        if cached is not None:
            return cached
        if self.pricing == "unknown":
            raise PriceUnknown(model_label(self.wrapped), "daily", self.budget.daily)
        estimate = self.estimate(messages, model_settings, model_request_parameters)
        reservation = await asyncio.to_thread(self._reserve, estimate)
        started = time.perf_counter()
        try:
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        except BaseException:
            MODEL_FAILURES.labels(self.agent, self.tier).inc()
            await asyncio.shield(asyncio.to_thread(self.store.release_sync, reservation))
            raise
        MODEL_SECONDS.labels(self.agent, self.tier).observe(time.perf_counter() - started)
        await asyncio.shield(asyncio.to_thread(self._settle, reservation, key, response))
        return response

    async def count_tokens(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> RequestUsage:
        """The request's size estimated from its text, with no call to the provider: with
        ``UsageLimits(count_tokens_before_request=True)`` the per-turn token limit holds before a
        request is sent, not after it was paid for."""
        return RequestUsage(input_tokens=self.input_tokens(messages, model_request_parameters))

    def _cached(self, key: str) -> ModelResponse | None:
        """A cached response (recorded at no cost), or None."""
        cached = self.store.cache_get_sync(key)
        if cached is None:
            return None
        response = ModelMessagesTypeAdapter.validate_python(cached)[0]
        assert isinstance(response, ModelResponse)
        self._record(response, Decimal(0), True)
        return response

    def _reserve(self, estimate: Decimal) -> int:
        """Reserve the request's estimated cost against the caps, atomically with every other turn."""
        reserved = self.store.reserve_sync(
            self.workspace, estimate, daily=self.budget.daily, monthly=self.budget.monthly
        )
        if isinstance(reserved, CapReached):
            raise BudgetExceeded(reserved.period, reserved.spent, reserved.cap)
        return reserved

    def _settle(self, reservation: int, key: str, response: ModelResponse) -> None:
        cost = self.price(response)
        self.spent.append(cost)
        self.store.settle_sync(
            reservation,
            workspace=self.workspace,
            agent=self.agent,
            tier=self.tier,
            model=self.wrapped.model_name,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cost=cost,
        )
        self.store.cache_put_sync(key, ModelMessagesTypeAdapter.dump_python([response], mode="json"))

    @staticmethod
    def input_tokens(messages: list[ModelMessage], params: ModelRequestParameters) -> int:
        """~4 characters per token over everything the request carries: messages and tool definitions."""
        size = len(ModelMessagesTypeAdapter.dump_json(messages))
        size += sum(
            len(json.dumps(t.parameters_json_schema)) + len(t.description or "") for t in params.tool_defs.values()
        )
        return size // CHARS_PER_TOKEN + 1

    def estimate(
        self, messages: list[ModelMessage], settings: ModelSettings | None, params: ModelRequestParameters
    ) -> Decimal:
        """What the request will cost at most (its input, and the output allowance), priced before sending."""
        allowance = int((settings or {}).get("max_tokens") or self.output_limit() or OUTPUT_ALLOWANCE)
        return self.price_usage(RequestUsage(input_tokens=self.input_tokens(messages, params), output_tokens=allowance))

    def output_limit(self) -> int | None:
        """SOLOOS_MODEL_MAX_TOKENS, which ``LimitedModel`` adds to each request below this meter."""
        limited = next((m for m in layers(self.wrapped) if isinstance(m, LimitedModel)), None)
        return limited.limits.max_tokens if limited else None

    def price(self, response: ModelResponse) -> Decimal:
        if self.pricing == "list":
            try:
                return Decimal(str(response.cost().total_price))
            except (AssertionError, LookupError, ValueError):
                pass  # the response names a model the catalogue does not know: price it as the request's model
        return self.price_usage(response.usage)

    def price_usage(self, usage: RequestUsage) -> Decimal:
        """Token counts → dollars: the model's list price when the catalogue knows it, else the configured
        prices, else 0 (a model on this machine; an unknown one never gets here, ``request`` refuses it)."""
        if self.pricing == "list":
            return list_price(self.wrapped, usage) or Decimal(0)
        if self.pricing == "configured":
            return (
                Decimal(usage.input_tokens) * (self.prices.input_per_mtok or Decimal(0))
                + Decimal(usage.output_tokens) * (self.prices.output_per_mtok or Decimal(0))
            ) / Decimal(1_000_000)
        return Decimal(0)

    def _record(self, response: ModelResponse, cost: Decimal, cached: bool) -> None:
        self.store.record_sync(
            workspace=self.workspace,
            agent=self.agent,
            tier=self.tier,
            model=self.wrapped.model_name,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cost=cost,
            cached=cached,
        )


@dataclass(frozen=True)
class ModelLimits:
    """What one model request and one turn may take (settings ``SOLOOS_MODEL_MAX_TOKENS``,
    ``SOLOOS_MODEL_TIMEOUT_SECONDS``, ``SOLOOS_MODEL_RETRIES``, ``SOLOOS_TURN_SECONDS``)."""

    max_tokens: int = 1_024
    timeout_seconds: float = 60.0
    retries: int = 1
    turn_seconds: float = 180.0

    def settings(self) -> ModelSettings:
        """What every request carries unless its caller set it: the output limit, the timeout, and no
        retries by the provider's client (``RetryChain`` is the one retry policy)."""
        return {"max_tokens": self.max_tokens, "timeout": self.timeout_seconds, "max_retries": 0}


class LimitedModel(WrapperModel):
    """One configured model under the limits: each request carries ``max_tokens`` and the timeout
    (unless set), and one that takes longer than the timeout is abandoned (``ModelRequestTimeout``),
    whatever the provider's client does."""

    def __init__(self, wrapped: Model, limits: ModelLimits) -> None:
        super().__init__(wrapped)
        self.limits = limits

    def limited(self, model_settings: ModelSettings | None) -> ModelSettings:
        merged = dict(self.limits.settings())
        merged.update(model_settings or {})
        return merged  # type: ignore[return-value]

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                return await self.wrapped.request(messages, self.limited(model_settings), model_request_parameters)
        except TimeoutError as err:
            raise ModelRequestTimeout(self.model_name, self.limits.timeout_seconds) from err

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        """A streamed request (an agent with an event handler streams) carries the same limits; the
        provider's client enforces the timeout between chunks."""
        async with self.wrapped.request_stream(
            messages, self.limited(model_settings), model_request_parameters, run_context
        ) as stream:
            yield stream


def cannot_succeed_again(err: BaseException) -> bool:
    """A failure that the same request cannot get past by being sent again (to either tier): the
    request does not fit the model's context, or the provider rejected it as invalid."""
    if isinstance(err, (ModelAuthenticationError, ModelNotFoundError, ModelQuotaExceededError)):
        return False  # the other tier may have another key, server or account
    if isinstance(err, ModelRequestRejectedError) or context_overflow(err):
        return True
    return isinstance(err, ModelHTTPError) and err.status_code in (400, 413, 422)


def tier_bound(err: BaseException) -> bool:
    """A failure of this model's server, key or account: another try on the *same* model cannot help."""
    if isinstance(err, (ModelAuthenticationError, ModelNotFoundError, ModelQuotaExceededError)):
        return True
    return isinstance(err, ModelHTTPError) and err.status_code in (401, 403, 404)


_OVERFLOW_WORDS = ("context size", "context length", "context window", "exceed_context_size", "too many tokens")


def context_overflow(err: BaseException) -> bool:
    """The request does not fit the model's context: OpenAI's "maximum context length", llama.cpp's
    HTTP 400 "exceeds the available context size" (``exceed_context_size_error``), and the like."""
    from pydantic_ai.exceptions import ModelContextWindowExceededError

    if isinstance(err, ModelContextWindowExceededError):
        return True
    if not isinstance(err, ModelHTTPError) or err.status_code not in (400, 413):
        return False
    body = json.dumps(err.body, default=str).lower() if err.body is not None else ""
    return any(word in body for word in _OVERFLOW_WORDS)


RETRYABLE: tuple[type[BaseException], ...] = (ModelAPIError, httpx.TransportError)


class RetryChain(FallbackModel):
    """The attempts one request may make: the first tier, then (one per retry) the other tier when both
    are configured, else the same one again. Together at most ``1 + retries`` requests; the client
    libraries retry nothing on their own."""

    def __init__(self, *attempts: Model) -> None:
        self.attempts = attempts
        distinct = len({id(base_model(m)) for m in attempts}) > 1  # two tiers may be one model

        def retry(err: Exception) -> bool:
            if not isinstance(err, RETRYABLE) or cannot_succeed_again(err):
                return False
            return distinct or not tier_bound(err)

        super().__init__(attempts[0], *attempts[1:], fallback_on=retry)

    @property
    def model_name(self) -> str:
        """The model's own name when every attempt goes to the same one (what the spend ledger records)."""
        if len({id(base_model(m)) for m in self.attempts}) == 1:
            return self.attempts[0].model_name
        return super().model_name


@dataclass(frozen=True)
class ModelTiers:
    """The configured models. Either may be missing; with neither, only the local tier exists.
    ``fast_context``/``strong_context`` are the context windows the operator set (tokens), None when
    the model's own size is to be looked up. ``limits`` bound every request a tier makes."""

    fast: Model | None
    strong: Model | None
    fast_context: int | None = None
    strong_context: int | None = None
    limits: ModelLimits = field(default_factory=ModelLimits)

    @classmethod
    def from_strings(cls, fast: str | None, strong: str | None) -> ModelTiers:
        return cls(infer_model(fast) if fast else None, infer_model(strong) if strong else None)

    @property
    def available(self) -> bool:
        return self.fast is not None or self.strong is not None

    def pick(self, tier: Tier) -> tuple[Tier, Model]:
        """The model for ``tier``, under the limits, with its retries: the other tier when both are
        configured, else the same again; the tier actually used first."""
        order = (
            [("strong", self.strong), ("fast", self.fast)]
            if tier == "strong"
            else [("fast", self.fast), ("strong", self.strong)]
        )
        present = [(name, LimitedModel(model, self.limits)) for name, model in order if model is not None]
        if not present:
            raise LookupError("no model is configured")
        first_tier = present[0][0]
        attempts = [present[i % len(present)][1] for i in range(1 + self.limits.retries)]
        if len(attempts) == 1:
            return first_tier, attempts[0]  # type: ignore[return-value]
        return first_tier, RetryChain(*attempts)  # type: ignore[return-value]


def build_model(name: str, limits: ModelLimits) -> Model:
    """The model for a pydantic-ai model string, its provider's client made to retry nothing and wait
    no longer than the timeout (the OpenAI and Anthropic clients default to 2 retries of 600 s). An
    OpenAI-compatible server that is not OpenAI's (llama.cpp, Ollama, vLLM) gets the output limit as
    ``max_tokens``, the field they all read (OpenAI's own ``max_completion_tokens`` is ignored by some)."""
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.profiles.openai import OpenAIModelProfile
    from pydantic_ai.providers import Provider, infer_provider

    providers: list[Provider[Any]] = []

    def provider(kind: str) -> Provider[Any]:
        providers.append(infer_provider(kind))
        return providers[-1]

    model = infer_model(name, provider_factory=provider)
    if isinstance(model, OpenAIChatModel) and providers and urlsplit(model.base_url).hostname != OPENAI_HOST:
        model = OpenAIChatModel(
            model.model_name,
            provider=providers[0],
            profile=OpenAIModelProfile(openai_chat_supports_max_completion_tokens=False),
        )
    client = getattr(model, "client", None)
    if client is not None and hasattr(client, "max_retries"):
        client.max_retries = 0
        client.timeout = httpx.Timeout(limits.timeout_seconds)
    return model


OPENAI_HOST = "api.openai.com"

_STRONG_WORDS = (
    "draft",
    "write",
    "compose",
    "proposal",
    "research",
    "analy",
    "plan",
    "summar",
    "reply",
    "email",
    "e-mail",
    "letter",
    "explain",
    "compare",
)


def choose_tier(text: str) -> Tier:
    """Writing and research go to the strong tier; everything else that needs a model to the fast one."""
    lowered = text.lower()
    return "strong" if any(word in lowered for word in _STRONG_WORDS) else "fast"


def needs_model_message(model_configured: bool) -> str:
    """What the operator reads when a request needs a model that cannot be used."""
    if model_configured:
        return "That needs a model, and the configured model could not be used; `soloos doctor` shows why."
    return (
        "That needs a language model, and none is configured: set SOLOOS_MODEL_FAST (for example "
        "openai-chat:gpt-4o-mini with OPENAI_API_KEY, or an Ollama model with OLLAMA_BASE_URL). "
        "Meanwhile I can remember, recall, forget and manage tasks — type help."
    )
