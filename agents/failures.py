"""When the model cannot be used: one sentence for the operator that names each tier's failure, what
to do about it, and what was (not) done; one warning line in the log (no traceback; the provider's
error body, which may echo a key, is never shown).

``MODEL_FAILURES`` are the exceptions a model request ends with when no attempt answered: pydantic-ai's
``FallbackExceptionGroup`` (every attempt of a ``RetryChain`` failed), a ``ModelAPIError`` (the only
attempt failed), or an ``httpx`` transport error a model let through untranslated. What each names:

- unreachable ("cannot connect …"), unauthorized ("HTTP 401 …"), a server error ("HTTP 500 …"): check
  the server and keys (``CHECK``);
- rate limited (HTTP 429): wait, or check the account;
- context overflow (HTTP 400 "exceeds the available context size", "maximum context length"): trying
  again will not help — a shorter message, the real context size in settings, or a bigger model;
- timeout (``SOLOOS_MODEL_TIMEOUT_SECONDS``).

``model_output_failure`` names the model's *answers* that could not be used (``UnexpectedModelBehavior``):
cut off at the output limit (``SOLOOS_MODEL_MAX_TOKENS``), or invalid after the retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from http import HTTPStatus
from typing import TypeVar

import httpx
from pydantic_ai.exceptions import (
    FallbackExceptionGroup,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestTimeout,
    ModelTimeoutError,
    OutputTokenLimitExceeded,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.models import Model

from agents.models import BudgetExceeded, ModelLimits, ModelTiers, PriceUnknown, Tier, context_overflow

log = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_FAILURES: tuple[type[BaseException], ...] = (FallbackExceptionGroup, ModelAPIError, httpx.TransportError)
CHECK = "Check that the model server is running and that the API keys are valid (`soloos doctor` shows both)."
OVERFLOW = (
    "Trying again will not help: send a shorter message, or set SOLOOS_MODEL_FAST_CONTEXT / "
    "SOLOOS_MODEL_STRONG_CONTEXT to the server's real context size (llama.cpp's --ctx-size, Ollama's num_ctx), "
    "or use a model with a bigger context."
)
RATE_LIMITED = "The provider is limiting requests: wait a minute and try again, or check the account's plan and quota."
_MAX_DETAIL = 160


def model_failure(err: BaseException, tiers: ModelTiers, *, first: Tier, outcome: str) -> str:
    """The operator's sentence for a request no tier answered; ``outcome`` says what was (not) done,
    e.g. "nothing was sent". ``first`` is the tier that was tried first."""
    order = _order(tiers, first)
    named: dict[str, BaseException] = {}  # one entry per model: a retry of the same model names it once
    for i, failure in enumerate(_leaves(err)):
        named[_label(failure, order, i)] = failure
    parts = [f"{label} — {_reason(failure)}" for label, failure in named.items()]
    advice = " ".join(dict.fromkeys(_advice(failure, tiers.limits) for failure in named.values()))
    log.warning("no model tier answered: %s", "; ".join(parts))
    if len(parts) == 1:
        return f"The model failed: {parts[0]}; {outcome}. {advice}"
    many = "Both models" if len(parts) == 2 else "All models"
    return f"{many} failed: {'; '.join(parts)}; {outcome}. {advice}"


def model_output_failure(err: UnexpectedModelBehavior, limits: ModelLimits, *, outcome: str) -> str:
    """The operator's sentence for a model answer that could not be used: cut off, or invalid after retries."""
    log.warning("model output unusable (%s): %s", type(err).__name__, _short(str(err)))
    if isinstance(err, OutputTokenLimitExceeded):
        return (
            f"The model's answer was cut off at the {limits.max_tokens:,}-token output limit before it was complete, "
            f"so I could not use it; {outcome}. Ask for something smaller, or raise SOLOOS_MODEL_MAX_TOKENS."
        )
    first = _short(str(err).split(". ", 1)[0].rstrip("."))  # pydantic-ai goes on with advice for developers
    return (
        f"The model's answer was not usable ({first}); {outcome}. Try again, perhaps rephrased; "
        "a small model may need a stronger one (SOLOOS_MODEL_STRONG)."
    )


def describe_failure(err: BaseException, tiers: ModelTiers, *, first: Tier, outcome: str) -> str | None:
    """The sentence for any way a model turn stops short — a failed request, an unusable answer, an
    unknown price, the spend cap, the turn's request or time limit — None when ``err`` is none of them;
    a model failure that caused ``err`` counts (pydantic-ai may wrap one raised in a tool)."""
    if isinstance(err, PriceUnknown):
        return f"{err}. I made no model request; {outcome}."
    if isinstance(err, BudgetExceeded):
        return (
            f"{err}, so I made no model request; {outcome}. The local tier still works (remember, recall, "
            "tasks); raise SOLOOS_BUDGET_DAILY_USD / SOLOOS_BUDGET_MONTHLY_USD to go on."
        )
    if isinstance(err, UsageLimitExceeded):
        return (
            f"That needed more model work than one turn allows ({err}); I stopped; {outcome}. Try a narrower request."
        )
    if isinstance(err, TurnTooLong):
        return turn_too_long(err.seconds, outcome)
    err = next((cause for cause in _causes(err) if isinstance(cause, MODEL_FAILURES)), err)
    if isinstance(err, MODEL_FAILURES):
        return model_failure(err, tiers, first=first, outcome=outcome)
    if isinstance(err, UnexpectedModelBehavior):
        return model_output_failure(err, tiers.limits, outcome=outcome)
    return None


def cut_off_note(limits: ModelLimits) -> str:
    """Appended to a text reply the output limit cut off (``finish_reason == "length"``)."""
    return (
        "[Cut off: the model reached its output limit before this reply was complete "
        f"(SOLOOS_MODEL_MAX_TOKENS is {limits.max_tokens:,}; a model server may stop sooner).]"
    )


class TurnTooLong(Exception):
    """A turn or plan step ran past ``SOLOOS_TURN_SECONDS`` and was stopped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"stopped after {seconds:g} s (SOLOOS_TURN_SECONDS)")


async def within(seconds: float, work: Awaitable[T]) -> T:
    """``work``, stopped with ``TurnTooLong`` when it takes longer than ``seconds`` (another
    ``TimeoutError`` from inside is not mistaken for it)."""
    try:
        async with asyncio.timeout(seconds) as deadline:
            return await work
    except TimeoutError:
        if deadline.expired():
            raise TurnTooLong(seconds) from None
        raise


def turn_too_long(seconds: float, outcome: str) -> str:
    """A turn that hit ``SOLOOS_TURN_SECONDS``."""
    log.warning("turn stopped after %g s (SOLOOS_TURN_SECONDS)", seconds)
    return (
        f"That took longer than the {seconds:g} s a turn may take (SOLOOS_TURN_SECONDS); I stopped; {outcome}. "
        "Try a narrower request, or a faster model."
    )


def short_failure(err: BaseException) -> str:
    """A model failure in a few words for a log line or a plan step's record (never the provider's body)."""
    return "; ".join(dict.fromkeys(_reason(failure) for failure in _leaves(err)))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _advice(failure: BaseException, limits: ModelLimits) -> str:
    if context_overflow(failure):
        return OVERFLOW
    if isinstance(failure, ModelRequestTimeout):
        return (
            f"A model request may take {limits.timeout_seconds:g} s (SOLOOS_MODEL_TIMEOUT_SECONDS): raise it for a "
            "slow local model, or use a faster one."
        )
    if isinstance(failure, ModelRateLimitError) or (
        isinstance(failure, ModelHTTPError) and failure.status_code == HTTPStatus.TOO_MANY_REQUESTS
    ):
        return RATE_LIMITED
    return CHECK


def _leaves(err: BaseException) -> list[BaseException]:
    if isinstance(err, BaseExceptionGroup):
        return [leaf for inner in err.exceptions for leaf in _leaves(inner)]
    return [err]


def _order(tiers: ModelTiers, first: Tier) -> list[tuple[str, Model]]:
    named = [("fast", tiers.fast), ("strong", tiers.strong)]
    if first == "strong":
        named.reverse()
    return [(name, model) for name, model in named if model is not None]


def _label(failure: BaseException, order: list[tuple[str, Model]], position: int) -> str:
    failed_name = failure.model_name if isinstance(failure, ModelAPIError) else None
    for name, model in order:
        if model.model_name == failed_name:
            return f"{name} ({model.system}:{model.model_name})"
    if order:  # the attempts go round the tiers in order
        name, model = order[position % len(order)]
        return f"{name} ({model.system}:{model.model_name})"
    return failed_name or "model"


def _reason(failure: BaseException) -> str:
    if context_overflow(failure):
        return "the request is larger than the model's context" + _sizes(failure)
    if isinstance(failure, ModelRequestTimeout):
        return f"no answer within {failure.timeout:g} s"
    if isinstance(failure, ModelHTTPError):
        try:
            phrase = HTTPStatus(failure.status_code).phrase.lower()
        except ValueError:
            phrase = "error"
        return f"HTTP {failure.status_code} {phrase}"  # not the body: a provider may echo the key
    causes = _causes(failure)
    if any(isinstance(cause, httpx.TimeoutException) for cause in causes) or isinstance(failure, ModelTimeoutError):
        return "timed out"
    if any(isinstance(cause, httpx.TransportError) for cause in causes) or isinstance(failure, ModelConnectionError):
        return "cannot connect (connection refused or unknown host)"
    return _short(str(failure) or type(failure).__name__)


def _causes(failure: BaseException) -> list[BaseException]:
    """``failure`` and what caused it (pydantic-ai's error ← the SDK's ← httpx's)."""
    chain: list[BaseException] = []
    seen: BaseException | None = failure
    while seen is not None and len(chain) < 6:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def _sizes(failure: BaseException) -> str:
    """llama.cpp says how big the prompt was and how big the context is; others don't."""
    body = failure.body if isinstance(failure, ModelAPIError) else None
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict):
        prompt, window = error.get("n_prompt_tokens"), error.get("n_ctx")
        if isinstance(prompt, int) and isinstance(window, int):
            return f" ({prompt:,} tokens; it holds {window:,})"
    return " (HTTP 400)"


__all__ = [
    "MODEL_FAILURES",
    "TurnTooLong",
    "cut_off_note",
    "describe_failure",
    "model_failure",
    "model_output_failure",
    "short_failure",
    "turn_too_long",
    "within",
]
