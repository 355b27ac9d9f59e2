"""Chat commands, one module per feature, and the registry made of them.

Each feature module (``memory``, ``tasks``, ``approvals``, ``reminders``…) declares ``COMMANDS``: for
each command its phrasings (tried in their explicit order over all modules; the first match wins),
its handler, its help line, and whether Telegram's menu and Slack's ``/soloos`` subcommands list it.
The registry finds the modules with ``pkgutil``, so a new command is one new module (or one entry in
an existing one): the router, ``help``, the Telegram menu and Slack's subcommands all pick it up.
"""

from agents.commands._base import Command, Handler, LocalContext, Routed, Rule, approval_buttons, phrase
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
