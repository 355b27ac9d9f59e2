"""Drivers that act on the world. Today: the local connectors (outbox, payments ledger, records).
Email, calendar and bank drivers are issue #6."""

from connectors.local import EXECUTORS, ConnectorError, Executor, Outcome, claim_effect, settle_effect, undo

__all__ = ["EXECUTORS", "ConnectorError", "Executor", "Outcome", "claim_effect", "settle_effect", "undo"]
