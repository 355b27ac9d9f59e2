"""Chat commands, one module per feature, and the registry made of them.

Each feature module (``memory``, ``tasks``, ``approvals``, ``reminders``…) declares ``COMMANDS``: for
each command its phrasings (tried in their explicit order over all modules; the first match wins),
its handler, its help line, and whether Telegram's menu and Slack's ``/soloos`` subcommands list it.
The registry finds the modules with ``pkgutil``, so a new command is one new module (or one entry in
an existing one): the router, ``help``, the Telegram menu and Slack's subcommands all pick it up.

A phrasing is ``confident`` (an explicit command: always local) unless it says otherwise: a loose
one (``question``, ``fallback``) takes a message only when it reads the right way and, for
``fallback``, only when no model is configured (``route(text, model=…)``); statements of fact never
get a loose local answer.
"""

from agents.commands._base import Command, Confidence, Handler, LocalContext, Routed, Rule, approval_buttons, phrase
from agents.commands._registry import (
    answer,
    command,
    commands,
    help_lines,
    route,
    slack_subcommands,
    telegram_menu,
)

__all__ = [
    "Command",
    "Confidence",
    "Handler",
    "LocalContext",
    "Routed",
    "Rule",
    "answer",
    "approval_buttons",
    "command",
    "commands",
    "help_lines",
    "phrase",
    "route",
    "slack_subcommands",
    "telegram_menu",
]
