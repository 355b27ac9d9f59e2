"""Drivers that read and write external systems (e-mail over IMAP/SMTP, calendars over CalDAV and
.ics, bank statement files) and translate them into canonical records. The effects SoloOS carries out
itself are the policy gate's (``agents.gate.executors``); a connector's writes reach it only through them.

Each connector is a package with fixed roles (``config``, ``connector``, the raw client, the pure
parsing) and is built by ``connectors.registry``; argument and record checks live in
``connectors.checks``, every error in ``connectors.errors``, what the gate's executors and the drivers
share (the outcome of an effect, event ids) in ``connectors.effects``.
"""

from connectors.base import Capability, Connector, Health, ReadReport
from connectors.effects import Outcome
from connectors.errors import (
    CalendarError,
    ConnectorError,
    EmailError,
    IcsError,
    InvalidValue,
    SendUncertain,
    SetupError,
    StatementError,
)

__all__ = [
    "CalendarError",
    "Capability",
    "Connector",
    "ConnectorError",
    "EmailError",
    "Health",
    "IcsError",
    "InvalidValue",
    "Outcome",
    "ReadReport",
    "SendUncertain",
    "SetupError",
    "StatementError",
]
