"""Fixed prompt tokens per coordinator request (instructions + tool definitions): all tools vs
the tools offered by relevance, for typical turns and context windows.

    .venv/bin/python -m bench.prompt_tokens [--window 4096 8192 32768 128000] [--max-tokens 1024]

The fixed part is what every request of a turn carries before the memory context, the operator's
message and the turn's tool results. No model, database or network is used: the figures come from
the coordinator's own definitions (``agents.team``) and the sizing the runner applies
(``agents.team.plan_turn``).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import FunctionModel

from agents import ModelTiers
from agents.context import estimate_tokens
from agents.team import definition_text, fixed_instructions, plan_turn, tool_definitions

TYPICAL_TURNS = [
    "find two free hours next week for the Globex workshop",
    "Acme just told me they will pay invoice 42 late",
    "draft a friendly reminder to Jane about invoice 42",
    "draft an email to Jane about invoice 42 and send it",
    "what did we agree with Initech about the retainer?",
    "remind me to call the accountant on Friday",
    "make the Acme proposal warmer",
    "Land 3 new retainer clients by March",
    "pay the designer 450 EUR for the logo",
    "forget the old Acme IBAN",
    "how is the business doing this month?",
    "book a call with Jane on Tuesday at 10",
]


def counter() -> tuple[str, Callable[[str], int]]:
    """tiktoken's cl100k_base when its encoding file is available offline, else the project's
    estimate (~4 characters per token, ``agents.context.estimate_tokens``)."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base")
    except Exception:  # not installed, or the encoding file cannot be fetched (no network here)
        return "chars/4 (the project's estimate; tiktoken's cl100k_base encoding is not available offline)", (
            estimate_tokens
        )
    return "tiktoken cl100k_base", lambda text: len(encoding.encode(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, nargs="+", default=[4_096, 8_192, 32_768, 128_000])
    parser.add_argument("--max-tokens", type=int, default=1_024, help="output allowance per request")
    parser.add_argument("--context-budget", type=int, default=1_500, help="SOLOOS_CONTEXT_TOKEN_BUDGET")
    args = parser.parse_args()

    how, count = counter()
    tools = {name: count(definition_text(d)) for name, d in tool_definitions().items()}
    instructions = count(fixed_instructions())
    every = instructions + sum(tools.values())
    print(f"conditions: tokens counted with {how};")
    print("            fixed = coordinator instructions (mode line and untrusted-data rule included, memory context")
    print("            excluded) + each tool's name, description and JSON schema; provider framing not counted;")
    print(f"            output allowance {args.max_tokens}, memory context budget {args.context_budget}")
    print(f"instructions: {instructions} tokens; {len(tools)} tools: {sum(tools.values())} tokens")
    print("  " + ", ".join(f"{name} {size}" for name, size in sorted(tools.items(), key=lambda kv: -kv[1])))
    print(f"all tools offered: {every} fixed tokens per request")
    model = FunctionModel(lambda _m, _i: ModelResponse(parts=[]), model_name="bench")
    for window in args.window:
        tiers = ModelTiers(model, model, window, window)
        print(f"\nwindow {window:,} tokens")
        print(f"  {'turn':<55} {'tools':>5} {'fixed':>6} {'memory':>6}")
        fixed: list[int] = []
        for text in TYPICAL_TURNS:
            sized = plan_turn(tiers, "fast", text, output=args.max_tokens, context_budget=args.context_budget)
            offered = set(tools) if sized.offered is None else sized.offered
            tokens = instructions + sum(tools[name] for name in offered)
            fixed.append(tokens)
            print(f"  {text[:55]:<55} {len(offered):>5} {tokens:>6} {sized.size.context:>6}")
        print(
            f"  median fixed {statistics.median(fixed):.0f} tokens (all tools: {every}), max {max(fixed)}; "
            f"{'relevance-offered' if max(fixed) < every else 'every tool offered: they fit comfortably'}"
        )


if __name__ == "__main__":
    main()
