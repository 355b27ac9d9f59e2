"""The registry: every command module in this package, found by ``pkgutil``, and what is made of them
— the router (first match wins, in each rule's ``order``), Telegram's menu and Slack's subcommands.

A module is a feature: it defines ``COMMANDS``, a tuple of ``Command``s. Modules whose names start
with ``_`` are shared code, not features.

A phrasing takes a message only when it is confident (``Rule.confidence``) or the message reads the
right way (``agents.commands._reading``): ``LOCAL`` is the whole routing rule, as a table.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass

from agents.commands._base import Command, Confidence, LocalContext, Routed, Rule
from agents.commands._reading import READINGS, Reading, normalized, reading
from agents.reply import Reply

_EVERY: frozenset[Reading] = frozenset(READINGS)
_ASKED: frozenset[Reading] = frozenset({"question", "phrase"})
_NOT_STATED: frozenset[Reading] = frozenset({"question", "phrase", "request"})

# (confidence, model configured) → the readings a matching phrasing answers locally. A statement
# never gets a loose local answer (it is news, not a query); the rest goes to the model if there is one.
LOCAL: dict[tuple[Confidence, bool], frozenset[Reading]] = {
    ("confident", True): _EVERY,
    ("confident", False): _EVERY,
    ("question", True): _ASKED,
    ("question", False): _NOT_STATED,
    ("fallback", True): frozenset(),
    ("fallback", False): _NOT_STATED,
}

_BOT_SUFFIX = re.compile(r"^(/\w+)@\w+")
_BARE_COMMAND = re.compile(r"^/(\w+)")


@dataclass(frozen=True)
class Registry:
    commands: tuple[Command, ...]
    rules: tuple[tuple[Rule, Command], ...]  # in matching order


@functools.cache
def registry() -> Registry:
    """Import every feature module once and check that the rules' orders are unique."""
    package = importlib.import_module("agents.commands")
    commands: list[Command] = []
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        feature = importlib.import_module(f"agents.commands.{module.name}")
        commands.extend(getattr(feature, "COMMANDS", ()))
    rules = sorted(((rule, command) for command in commands for rule in command.rules), key=lambda rc: rc[0].order)
    orders = [rule.order for rule, _ in rules]
    if len(set(orders)) != len(orders):
        clashes = sorted({o for o in orders if orders.count(o) > 1})
        raise RuntimeError(f"two command phrasings share the order {clashes}; each needs its own place")
    return Registry(tuple(commands), tuple(rules))


def commands() -> tuple[Command, ...]:
    return registry().commands


def command(kind: str) -> Command:
    """The command answering ``kind`` when no phrasing chose one (its rule-less entry, else the first)."""
    found = [c for c in commands() if c.kind == kind]
    if not found:
        raise KeyError(kind)
    return next((c for c in found if not c.rules), found[0])


def route(text: str, *, model: bool = False) -> Routed:
    """Classify one message. Never raises; unknown requests become ``needs_model``.

    ``model``: a model is configured, so a loose phrasing leaves to it what it may answer better.
    """
    stripped = text.strip()
    if not stripped:
        return Routed("empty", command=command("empty"))
    # Slash commands from chat clients may carry a bot suffix: /recall@SoloOSBot acme
    plain = _BOT_SUFFIX.sub(r"\1", normalized(stripped))
    reads = reading(stripped)
    for rule, found in registry().rules:
        match = rule.pattern.match(plain)
        if match:
            if reads not in LOCAL[rule.confidence, model]:
                continue  # not this phrasing's kind of message: a later one, or the model, takes it
            groups = match.groupdict()
            payload = (groups.get("text") or "").strip()
            args = {k: v for k, v in groups.items() if k != "text" and v}
            if found.needs_text and not payload:
                continue
            if found.keep_sentence_end:
                payload = _keep_sentence_end(stripped, payload)
            return Routed(found.kind, payload, args, found)
    bare_command = _BARE_COMMAND.match(plain)
    if bare_command:
        return Routed("help", args={"unknown_command": bare_command.group(1)}, command=command("help"))
    return Routed("needs_model", stripped, command=command("needs_model"))


def _keep_sentence_end(original: str, payload: str) -> str:
    """The trailing-punctuation strip is for matching; keep a remembered fact as written."""
    tail = original.rstrip()
    if tail.endswith((".", "!", "?")) and tail.endswith(payload + tail[-1]):
        return payload + tail[-1]
    return payload


async def answer(routed: Routed, ctx: LocalContext) -> Reply:
    """Handle a routed request. Business refusals come back as text; system failures raise."""
    found = routed.command or command(routed.kind)
    return await found.handler(routed, ctx)


def telegram_menu() -> list[tuple[str, str]]:
    """Telegram's command menu (``set_my_commands``): (name, description), in menu order."""
    listed = sorted((c for c in commands() if c.menu), key=lambda c: c.menu_order)
    return [(c.name, c.menu) for c in listed]


def slack_subcommands() -> frozenset[str]:
    """The words after ``/soloos`` that are commands: "/soloos tasks" is "/tasks"."""
    return frozenset(c.name for c in commands() if c.slack)


def help_lines() -> list[str]:
    """Every command's help line, in help order."""
    return [c.help for c in sorted((c for c in commands() if c.help), key=lambda c: c.help_order)]


__all__ = [
    "LOCAL",
    "answer",
    "command",
    "commands",
    "help_lines",
    "registry",
    "route",
    "slack_subcommands",
    "telegram_menu",
]
