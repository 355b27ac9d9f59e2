"""The policy gate: the one way to an effect.

``Gate.submit(action, …) -> Executed | Parked | Refused`` judges an action by the operator's policy
and refuses it, parks it for their approval, or carries it out exactly once; ``decide_approval`` and
``resume_approved`` carry out what the operator approved. Model tools reach it through
``GatedToolset``; the executors (``agents.gate.executors``) refuse to run anywhere else.

- ``_core``: ``Gate``
- ``outcomes``: ``Executed``, ``Parked``, ``Refused``
- ``messages``: every sentence an outcome becomes
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
