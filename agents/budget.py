"""How much of a model's context window one turn may use, and what happens when it would not fit.

The window of the tier a turn uses comes from, in order: the operator's setting
(``SOLOOS_MODEL_FAST_CONTEXT`` / ``SOLOOS_MODEL_STRONG_CONTEXT``); for a model on a hosted service,
its catalogue size (pydantic-ai's profile, which reads genai-prices, then the few families below);
otherwise 4,096 tokens, llama.cpp's default ``n_ctx``. A model on a local server (Ollama, llama.cpp,
any OpenAI-compatible server on this machine or the LAN) runs with the window the *server* was
started with, not the one the model was trained for, so its catalogue size is not trusted.

From the window: the output allowance (``SOLOOS_MODEL_MAX_TOKENS``) and the fixed part
(instructions and the tools offered) come first, then the operator's message; the memory context
gets at most half of what is left (the rest is room for the tool results of the turn's later
steps), and never more than ``SOLOOS_CONTEXT_TOKEN_BUDGET``. A message that leaves too little room
is refused before anything is sent.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic_ai.models import Model

from agents.models import ModelTiers, Tier, base_model

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 4_096  # llama.cpp's default n_ctx: the safe guess for a model nobody described
ROOM_FOR_WORK = 256  # tokens a turn keeps free beyond the message: a tool call and its short answer
MIN_CONTEXT = 100  # below this the memory context is left out rather than cut to a useless stub

# Catalogue sizes for families genai-prices does not describe (first match of the lower-cased name
# wins, so the more specific prefixes come first). Hosted services only: see ``self_hosted``.
FAMILY_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-5", 400_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("claude", 200_000),
    ("gemini", 1_048_576),
    ("llama-3.1", 131_072),
    ("llama3.1", 131_072),
    ("llama-3.2", 131_072),
    ("llama3.2", 131_072),
    ("llama-3.3", 131_072),
    ("llama3.3", 131_072),
    ("llama3", 8_192),
    ("llama-3", 8_192),
    ("qwen2.5", 32_768),
    ("qwen-2.5", 32_768),
    ("mistral", 32_768),
)

Source = Literal["setting", "catalogue", "default"]


@dataclass(frozen=True)
class Window:
    """A context window in tokens and where the figure comes from (said in refusals)."""

    tokens: int
    source: Source
    tier: Tier
    model: str

    def describe(self) -> str:
        if self.source == "setting":
            return f"{self.tokens:,} tokens (SOLOOS_MODEL_{self.tier.upper()}_CONTEXT)"
        if self.source == "catalogue":
            return f"{self.tokens:,} tokens (known for {self.model})"
        return (
            f"{self.tokens:,} tokens (assumed for {self.model}: llama.cpp's default; "
            f"set SOLOOS_MODEL_{self.tier.upper()}_CONTEXT if it has more)"
        )


def self_hosted(model: Model) -> bool:
    """Served from this machine or the LAN (Ollama, llama.cpp, vLLM…): its window is the server's.
    (Wider than ``agents.models.is_local``, which prices loopback servers at 0.)"""
    if model.system == "ollama":
        return True
    try:
        url = getattr(model, "base_url", None)
    except Exception:  # some providers build their client lazily; no URL means a hosted catalogue model
        return False
    host = urlsplit(url).hostname if isinstance(url, str) else None
    if not host:
        return False
    if host == "localhost" or host.endswith((".local", ".lan", ".internal")) or "." not in host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def catalogue_window(model: Model) -> int | None:
    """The model's known size on a hosted service, or None."""
    try:
        known = model.context_window  # pydantic-ai's profile: genai-prices' data for catalogue models
    except Exception:  # a profile that cannot be resolved is an unknown model
        known = None
    if known:
        return int(known)
    name = model.model_name.lower().rsplit("/", 1)[-1]
    return next((size for prefix, size in FAMILY_WINDOWS if name.startswith(prefix)), None)


def model_window(model: Model, configured: int | None, tier: Tier) -> Window:
    model = base_model(model)  # the provider's model behind the meter, limits and fallback
    if configured:
        return Window(configured, "setting", tier, model.model_name)
    if not self_hosted(model) and (known := catalogue_window(model)):
        return Window(known, "catalogue", tier, model.model_name)
    return Window(DEFAULT_WINDOW, "default", tier, model.model_name)


def tier_window(tiers: ModelTiers, tier: Tier) -> Window:
    """The window of the model a turn on ``tier`` is sent to first (the other tier is its fallback)."""
    used, _ = tiers.pick(tier)
    model = tiers.strong if used == "strong" else tiers.fast
    assert model is not None
    return model_window(model, tiers.strong_context if used == "strong" else tiers.fast_context, used)


@dataclass(frozen=True)
class TurnSize:
    """One turn's share of the window: what is fixed, what the message takes, what memory may use."""

    window: Window
    output: int  # the reply's allowance (max_tokens)
    fixed: int  # instructions and the tools offered
    message: int
    context: int  # the memory context's budget

    @property
    def fits(self) -> bool:
        return self.output + self.fixed + self.message + ROOM_FOR_WORK <= self.window.tokens

    @property
    def results(self) -> int:
        """Tokens left for what the turn's tools return (an inbox read, a specialist's answer)."""
        return max(ROOM_FOR_WORK, self.window.tokens - self.output - self.fixed - self.message - self.context)


def size_turn(window: Window, *, output: int, fixed: int, message: int, context_budget: int) -> TurnSize:
    left = window.tokens - output - fixed - message - ROOM_FOR_WORK
    context = min(context_budget, max(0, left // 2))
    return TurnSize(window, output, fixed, message, context if context >= MIN_CONTEXT else 0)


MIN_MESSAGE_ROOM = 200  # tokens: below this the window, not the message, is what is too small


def too_big(size: TurnSize) -> str:
    """The refusal of a message that does not fit the model's window (nothing was sent)."""
    room = max(0, size.window.tokens - size.output - size.fixed - ROOM_FOR_WORK)
    if room < MIN_MESSAGE_ROOM:  # no message could fit: the window (or the answer's allowance) is the problem
        return (
            f"The {size.window.tier} model's context window is {size.window.describe()}: too small for my "
            f"instructions ({size.fixed:,} tokens) and room for a {size.output:,}-token answer "
            "(SOLOOS_MODEL_MAX_TOKENS). Nothing was sent to the model and nothing was done. Set "
            f"SOLOOS_MODEL_{size.window.tier.upper()}_CONTEXT to the server's real size, lower "
            "SOLOOS_MODEL_MAX_TOKENS, or use a model with a bigger context window."
        )
    return (
        f"That message is about {size.message:,} tokens, and the {size.window.tier} model's context window is "
        f"{size.window.describe()}; with my instructions and room for the answer, a message can have about "
        f"{room:,}. Nothing was sent to the model and nothing was done. Split it into smaller messages, import "
        "a long text with `soloos memory import`, or use a model with a bigger context window."
    )


__all__ = [
    "DEFAULT_WINDOW",
    "FAMILY_WINDOWS",
    "TurnSize",
    "Window",
    "catalogue_window",
    "model_window",
    "self_hosted",
    "size_turn",
    "tier_window",
    "too_big",
]
