"""Drivers that act on the world: e-mail (IMAP/SMTP), calendar (CalDAV, .ics) and bank (statement
files), plus the local effects the policy gate's executors carry out (``connectors.local``).

Each connector is a package with fixed roles (``config``, ``connector``, the raw client, the pure
parsing) and is built by ``connectors.registry``; argument and record checks live in
``connectors.checks``, every error in ``connectors.errors``. Other packages use what is exported here
or from a connector package's ``__init__``.
"""

from connectors.base import Capability, Connector, Health, ReadReport
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
from connectors.local import EXECUTORS, Executor, Outcome, claim_effect, settle_effect, undo

__all__ = [
    "EXECUTORS",
    "CalendarError",
    "Capability",
    "Connector",
    "ConnectorError",
    "EmailError",
    "Executor",
    "Health",
    "IcsError",
    "InvalidValue",
    "Outcome",
    "ReadReport",
    "SendUncertain",
    "SetupError",
    "StatementError",
    "claim_effect",
    "settle_effect",
    "undo",
]
