"""The connectors' root error."""

from __future__ import annotations


class ConnectorError(Exception):
    """The connector could not carry out the action (bad arguments or a failed system)."""


__all__ = ["ConnectorError"]
