"""Drivers that read and write external systems (email, calendar, bank) and translate into canonical
records. The effects SoloOS carries out itself are the policy gate's (``agents.gate.executors``)."""

from connectors.errors import ConnectorError

__all__ = ["ConnectorError"]
