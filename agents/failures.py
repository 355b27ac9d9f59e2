"""When the model cannot be reached: one sentence for the operator that names each tier's failure and
what to check, and one warning line in the log (no traceback; the provider's error body, which may
echo a key, is never shown).

``MODEL_FAILURES`` are the exceptions a model request ends with when no tier answered: pydantic-ai's
``FallbackExceptionGroup`` (every tier of a ``FallbackModel`` failed), a ``ModelAPIError`` (the only
configured tier failed), or an ``httpx`` transport error a model let through untranslated.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import httpx
from pydantic_ai.exceptions import FallbackExceptionGroup, ModelAPIError, ModelHTTPError
from pydantic_ai.models import Model

from agents.models import ModelTiers, Tier

log = logging.getLogger(__name__)

MODEL_FAILURES: tuple[type[BaseException], ...] = (FallbackExceptionGroup, ModelAPIError, httpx.TransportError)
CHECK = "Check that the model server is running and that the API keys are valid (`soloos doctor` shows both)."
_MAX_DETAIL = 160


def model_failure(err: BaseException, tiers: ModelTiers, *, first: Tier, outcome: str) -> str:
    """The operator's sentence for a request no tier answered; ``outcome`` says what was (not) done,
    e.g. "nothing was sent". ``first`` is the tier that was tried first."""
    failures = _leaves(err)
    order = _order(tiers, first)
    parts = [f"{_label(failure, order, i)} — {_reason(failure)}" for i, failure in enumerate(failures)]
    log.warning("no model tier answered: %s", "; ".join(parts))
    if len(parts) == 1:
        return f"The model failed: {parts[0]}; {outcome}. {CHECK}"
    many = "Both models" if len(parts) == 2 else "All models"
    return f"{many} failed: {'; '.join(parts)}; {outcome}. {CHECK}"


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
    if position < len(order):
        name, model = order[position]
        return f"{name} ({model.system}:{model.model_name})"
    return failed_name or "model"


def _reason(failure: BaseException) -> str:
    if isinstance(failure, ModelHTTPError):
        try:
            phrase = HTTPStatus(failure.status_code).phrase.lower()
        except ValueError:
            phrase = "error"
        return f"HTTP {failure.status_code} {phrase}"  # not the body: a provider may echo the key
    cause = failure if isinstance(failure, httpx.TransportError) else failure.__cause__
    if isinstance(cause, httpx.ConnectError):
        return "cannot connect (connection refused or unknown host)"
    if isinstance(cause, httpx.TimeoutException):
        return "timed out"
    text = " ".join(str(failure).split()) or type(failure).__name__
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


__all__ = ["MODEL_FAILURES", "model_failure"]
