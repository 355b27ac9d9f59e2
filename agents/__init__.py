"""Deciding what to do with a message: the local router and the local tier (the model tiers come later)."""

from agents.local_tier import LocalContext, answer, needs_model_message
from agents.router import Routed, route, split_due, subject_of

__all__ = ["LocalContext", "Routed", "answer", "needs_model_message", "route", "split_due", "subject_of"]
