"""Errors raised by the connectors package.

ConnectorError (root)        the connector could not carry out the action; the message is for the operator
├── InvalidValue             an argument or a record failed a check (``connectors.checks``); also a ValueError
├── SetupError               connector settings that are invalid or do not work (``connectors.registry``)
├── EmailError               the mail server could not be reached or refused us (``temporary``: may work later)
│   └── SendUncertain        the connection broke after the message was handed over: maybe sent, never retried
├── CalendarError            the CalDAV server could not be used
├── IcsError                 the text is not an iCalendar file SoloOS can read; nothing was imported
├── StatementError           the file is not a bank statement SoloOS can read; nothing was imported
└── McpError                 an MCP server is down, stopped during a call, or its tool answered with an error
    └── McpTimeout           an MCP tool did not answer within its timeout

Vendor exceptions (``imaplib``, ``smtplib``, ``caldav``, ``ofxtools``) are translated into these at the
boundary (``raise EmailError(...) from err``), so none reaches an agent or the operator raw.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """The connector could not carry out the action (bad arguments or a failed system)."""


class InvalidValue(ConnectorError, ValueError):
    """A value failed a check: a gated write's argument, or a record from a connector (quarantined, not saved)."""


class SetupError(ConnectorError):
    """Settings that are invalid or do not work; the message says which and how to fix them."""


class EmailError(ConnectorError):
    """The mail server could not be reached or refused us; the message is written for the operator.

    ``temporary`` errors (unreachable, timed out, 4xx) may succeed later; the others need a fix.
    """

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


class SendUncertain(EmailError):
    """The connection broke after the message was handed over: it may or may not have been sent."""


class CalendarError(ConnectorError):
    """The CalDAV server could not be used; the message says why and what to do."""


class IcsError(ConnectorError):
    """The text is not an iCalendar file SoloOS can read; nothing was imported."""


class StatementError(ConnectorError):
    """The file is not a bank statement SoloOS can read; nothing was imported."""


class McpError(ConnectorError):
    """An MCP server could not carry out a tool call; the message names the server and the tool."""


class McpTimeout(McpError):
    """An MCP tool did not answer in time; it may still finish on the server's side."""


__all__ = [
    "CalendarError",
    "ConnectorError",
    "EmailError",
    "IcsError",
    "InvalidValue",
    "McpError",
    "McpTimeout",
    "SendUncertain",
    "SetupError",
    "StatementError",
]
