"""Help, greetings, empty messages, and what is said when a request needs a model that isn't there."""

from __future__ import annotations

from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.commands._reading import reading
from agents.commands._registry import help_lines
from agents.models import needs_model_message
from agents.reply import Button, Reply

HEADER = "I'm SoloOS, your business assistant. Without a language model I can already:"
MAX_ACTION_BYTES = 64  # what every channel carries back from a button press whole (Telegram's callback data)
FOOTER = "Drafting, research and planning need a model; `soloos doctor` shows how to set one up."


def help_text() -> str:
    """The help message: every command's help line, between the header and the footer."""
    return "\n".join([HEADER, *help_lines(), FOOTER])


async def _help(routed: Routed, ctx: LocalContext) -> Reply:
    unknown = routed.args.get("unknown_command")
    prefix = f"I don't know the command /{unknown}.\n\n" if unknown else ""
    return Reply(prefix + help_text())


async def _greet(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply("Hello! Tell me something to remember, ask what I know, or type help.")


async def _empty(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply("That message was empty, so there is nothing to do. Type help to see what I can do.")


async def _needs_model(routed: Routed, ctx: LocalContext) -> Reply:
    """The dispatcher sends a request here only when no model can take it."""
    message = needs_model_message(ctx.model_configured)
    if reading(routed.text) != "statement":
        return Reply(message)
    # "X is Y", "Acme told me …": a fact the local tier can keep, typed or with one press
    fact = routed.text.strip()
    message += f"\nIf that was a fact to keep, say: remember {fact[:80]}"
    keep = f"remember {fact}"
    return Reply(message, (Button("Remember it", keep),) if len(keep.encode()) <= MAX_ACTION_BYTES else ())


COMMANDS = (
    Command(
        "help",
        _help,
        (phrase(200, r"^(?:/?help|/start|\?|what can you do|how does this work|commands)$"),),
        name="help",
        menu="what I can do",
        menu_order=10,
        slack=True,
    ),
    Command("greet", _greet, (phrase(210, r"^(?:hi|hello|hey|good (?:morning|afternoon|evening)|yo)$"),)),
    Command("empty", _empty, ()),
    Command("needs_model", _needs_model, ()),
)

__all__ = ["COMMANDS", "FOOTER", "HEADER", "help_text"]
