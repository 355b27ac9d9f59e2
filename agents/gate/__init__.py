"""The policy gate: the one way to an effect.

``Gate.submit(action, …) -> Executed | Parked | Refused`` judges an action by the operator's policy
and refuses it, parks it for their approval, or carries it out exactly once; ``decide_approval`` and
``resume_approved`` carry out what the operator approved. Model tools reach it through
``GatedToolset``; the executors (``agents.gate.executors``) refuse to run anywhere else.

- ``_core``: ``Gate``
- ``outcomes``: ``Executed``, ``Parked``, ``Refused``
- ``messages``: every sentence an outcome becomes
- ``origins``: what the gate adds to the policy in code: a tainted turn's actions wait for the
  operator, sensitive values from outside content and changed bank details are named risks, every
  invitee is named and waits for approval
- ``deferral``: an approval on the model path (``ApprovalRequired`` metadata)
- ``toolset``: ``GatedToolset``
- ``executors``: the effects themselves (argument checks, wording) and their undo; the statements
  they run are ``memory.effects``
"""

from agents.gate import messages
from agents.gate._core import Gate
from agents.gate.messages import describe_approval
from agents.gate.outcomes import Executed, Parked, Refused, Submitted
from agents.gate.toolset import GateDeps, GatedToolset

__all__ = [
    "Executed",
    "Gate",
    "GateDeps",
    "GatedToolset",
    "Parked",
    "Refused",
    "Submitted",
    "describe_approval",
    "messages",
]
