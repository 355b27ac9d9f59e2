"""Deciding what to do with a message: the chat commands (no model), the coordinator and its
specialists, model tiers with the spend meter, and the policy gate every action goes through."""

from agents.commands import LocalContext, Routed, answer, approval_buttons, route
from agents.gate import Gate
from agents.models import Budget, BudgetExceeded, ModelTiers, Prices, choose_tier, needs_model_message
from agents.phrases import subject_of
from agents.reply import Button, Reply
from agents.runner import AgentRunner, TurnOutcome
from agents.when import split_due

__all__ = [
    "AgentRunner",
    "Budget",
    "BudgetExceeded",
    "Button",
    "Gate",
    "LocalContext",
    "ModelTiers",
    "Prices",
    "Reply",
    "Routed",
    "TurnOutcome",
    "answer",
    "approval_buttons",
    "choose_tier",
    "needs_model_message",
    "route",
    "split_due",
    "subject_of",
]
