"""Deciding what to do with a message: the local router and tier, the coordinator and its
specialists, model tiers with the spend meter, and the policy gate every action goes through."""

from agents.gate import Gate
from agents.local_tier import Answer, LocalContext, answer, approval_choices, needs_model_message
from agents.models import Budget, BudgetExceeded, ModelTiers, Prices, choose_tier
from agents.router import Routed, route, subject_of
from agents.runner import AgentRunner, TurnOutcome
from agents.when import split_due

__all__ = [
    "AgentRunner",
    "Answer",
    "Budget",
    "BudgetExceeded",
    "Gate",
    "LocalContext",
    "ModelTiers",
    "Prices",
    "Routed",
    "TurnOutcome",
    "answer",
    "approval_choices",
    "choose_tier",
    "needs_model_message",
    "route",
    "split_due",
    "subject_of",
]
