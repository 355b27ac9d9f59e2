"""Draft management: every draft is a versioned record with the inputs that produced it.

- ``produce`` stores a new version, unless a version made from identical inputs (instructions, base
  version, tone, mode, facts, kind, recipient, writer) exists: that one is returned and no model is
  called. The hash is over the request, not over the turn's context, so asking for the same draft
  again costs nothing even when the conversation around it moved on.
- ``find`` picks the draft the operator's words mean ("the Acme proposal"): the newest version of
  the draft whose kind, title and recipient share the most words with them; a tie between drafts is
  a question back, with the list.
- ``revise`` writes a new version whose parent is the matched one, the instruction in its inputs.
- ``send`` never sends: it submits ``email.send`` to the policy gate, which by default holds it for
  the operator's approval (a new counterparty always is).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents import untrusted
from agents.gate import Gate, Parked, messages
from memory import Draft, DraftAuthor, DraftKind, MemoryService, NotFound
from policies import Action, Approval

Writer = Callable[[str], Awaitable[str]]  # a prompt in, "Subject: …\n\nbody" out

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_DRAFT_REF = re.compile(r"^\s*(?:draft\s*)?#?(\d{1,12})\s*$", re.IGNORECASE)
_SUBJECT = re.compile(r"^\s*subject\s*:\s*(?P<subject>.*)$", re.IGNORECASE)
_STOP = frozenset(
    {"a", "an", "the", "my", "our", "your", "this", "that", "to", "for", "of", "on", "in", "with", "and", "or"}
    | {"make", "it", "its", "draft", "drafts", "version", "please", "more", "less", "be", "is", "me", "us"}
    | {"can", "could", "would", "you"}
)


@dataclass(frozen=True)
class DraftRequest:
    """What a draft is made from. Everything here (and nothing else) decides whether it is new."""

    kind: DraftKind
    title: str
    instructions: str
    counterparty: str | None = None
    tone: str = ""
    mode: str = "deterministic"
    facts: Mapping[str, Any] = field(default_factory=dict)
    base: Draft | None = None
    created_by: DraftAuthor = "agent"
    writer: str = "model"  # 'model' or 'template': the same inputs written by different means differ

    def inputs(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "counterparty": (self.counterparty or "").strip().lower() or None,
            "instructions": " ".join(self.instructions.split()),
            "base": self.base.id if self.base else None,
            "tone": self.tone,
            "mode": self.mode,
            "facts": dict(self.facts),
            "writer": self.writer,
        }


@dataclass(frozen=True)
class Produced:
    draft: Draft
    cached: bool  # an identical request had been answered: no model was called


def inputs_hash(inputs: Mapping[str, Any]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _slug(text: str | None) -> str:
    return "-".join(_WORD.findall((text or "").lower()))[:80]


def thread_key(kind: str, counterparty: str | None, title: str) -> str:
    """The stable key grouping the versions of one draft."""
    return f"{kind}:{_slug(counterparty)}:{_slug(title) or 'untitled'}"


def split_draft(text: str, fallback_subject: str = "") -> tuple[str, str]:
    """ "Subject: …\\n\\nbody" → (subject, body); text without a subject line is all body."""
    lines = text.strip().splitlines()
    if lines:
        found = _SUBJECT.match(lines[0])
        if found:
            return found.group("subject").strip(), "\n".join(lines[1:]).strip()
    return fallback_subject, text.strip()


def prompt_for(request: DraftRequest) -> str:
    """The drafting specialist's request: the task, the facts as data, and the version to revise."""
    to = f" to {request.counterparty}" if request.counterparty else ""
    parts = [f"Write a {request.kind}{to}, titled {request.title!r}.", f"Instructions: {request.instructions}"]
    if request.facts:
        parts.append(untrusted.facts(request.facts))
    if request.base is not None:
        base = request.base
        parts.append(
            f"Revise version {base.version} below; keep what the instructions do not ask to change.\n"
            f"Subject: {base.subject}\n\n{base.body}"
        )
    return "\n\n".join(parts)


async def produce(memory: MemoryService, workspace: str, request: DraftRequest, write: Writer) -> Produced:
    """A draft for ``request``: the stored one made from identical inputs, else a new version."""
    inputs = request.inputs()
    digest = inputs_hash(inputs)
    found = await memory.drafts.by_inputs(workspace, digest)
    if found is not None:
        return Produced(found, cached=True)
    subject, body = split_draft(await write(prompt_for(request)), request.title)
    base = request.base
    return Produced(
        await memory.drafts.add(
            workspace=workspace,
            thread=base.thread if base else thread_key(request.kind, request.counterparty, request.title),
            kind=base.kind if base else request.kind,
            title=base.title if base else request.title,
            counterparty=base.counterparty if base else request.counterparty,
            subject=subject,
            body=body,
            inputs=inputs,
            inputs_hash=digest,
            created_by=request.created_by,
            parent_id=base.id if base else None,
        ),
        cached=False,
    )


# -- finding a draft from words ----------------------------------------------------------------


def _words(text: str) -> set[str]:
    found = set()
    for word in _WORD.findall(text.lower()):
        word = word.removesuffix("'s")
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return found


def _score(draft: Draft, wanted: set[str]) -> int:
    fields = _words(f"{draft.kind} {draft.title} {draft.counterparty or ''}".replace("@", " ").replace(".", " "))
    return len(wanted & fields)


async def find(memory: MemoryService, workspace: str, which: str) -> Draft | list[Draft] | None:
    """The draft ``which`` names: an id ("12", "#12", "draft 12"), or words matching its kind, title
    and recipient. A list when several drafts match equally well (newest first); None when none does."""
    ref = _DRAFT_REF.match(which)
    if ref:
        try:
            return await memory.drafts.get(workspace, int(ref.group(1)))
        except NotFound:
            return None
    wanted = _words(which) - _STOP
    if not wanted:
        return None
    scored = [(d, _score(d, wanted)) for d in await memory.drafts.latest(workspace, limit=200)]
    best = max((s for _, s in scored), default=0)
    if best == 0:
        return None
    top = [d for d, s in scored if s == best]  # newest first, as ``latest`` lists them
    return top[0] if len(top) == 1 else top


def describe(draft: Draft) -> str:
    to = f" to {draft.counterparty}" if draft.counterparty else ""
    return f"#{draft.id} {draft.kind} “{draft.title}”{to}, v{draft.version}, {draft.status}"


def which_one(candidates: list[Draft]) -> str:
    lines = ["Several drafts match; which one? Say it with its number (e.g. /revise 12 warmer):"]
    return "\n".join(lines + [f"- {describe(d)}" for d in candidates[:10]])


@dataclass(frozen=True)
class Revised:
    text: str
    draft: Draft | None = None
    cached: bool = False


async def revise(
    memory: MemoryService,
    workspace: str,
    which: str,
    instruction: str,
    *,
    write: Writer,
    tone: str,
    mode: str,
    created_by: DraftAuthor = "agent",
) -> Revised:
    """A new version of the draft ``which`` names, with ``instruction`` applied."""
    found = await find(memory, workspace, which)
    if found is None:
        return Revised(f"I found no draft matching {which!r}. /drafts lists them.")
    if isinstance(found, list):
        return Revised(which_one(found))
    if found.status == "discarded":
        return Revised(f"Draft #{found.id} was discarded; nothing was changed.")
    request = DraftRequest(
        kind=found.kind,
        title=found.title,
        instructions=instruction,
        counterparty=found.counterparty,
        tone=tone,
        mode=mode,
        base=found,
        created_by=created_by,
    )
    made = await produce(memory, workspace, request, write)
    note = " (the same revision was asked for before; I reused it)" if made.cached else ""
    draft = made.draft
    return Revised(
        f"Revised {describe(draft)}, from v{found.version}{note}:\nSubject: {draft.subject}\n\n{draft.body}",
        draft,
        made.cached,
    )


# -- sending through the gate ------------------------------------------------------------------


def send_action(draft: Draft, to: str, *, in_reply_to: str | None = None) -> Action:
    args: dict[str, Any] = {"to": to, "subject": draft.subject or draft.title, "body": draft.body}
    if in_reply_to:
        args["in_reply_to"] = in_reply_to
    return Action("email.send", args, f"send draft #{draft.id} “{draft.title}” to {to}", counterparty=to)


async def send(
    memory: MemoryService,
    gate: Gate,
    draft_id: int,
    *,
    workspace: str,
    operator: str,
    intent_key: str,
    mode: str,
    to: str | None = None,
) -> Approval | str:
    """Send a draft as an ``email.send`` action through the gate; never directly. The pending
    approval, or what happened in words."""
    try:
        draft = await memory.drafts.get(workspace, draft_id)
    except NotFound:
        return f"There is no draft #{draft_id}. /drafts lists them."
    if draft.status == "discarded":
        return f"Draft #{draft.id} was discarded, so I won't send it."
    if draft.status in ("sent", "queued"):
        return f"Draft #{draft.id} is already {draft.status}; I won't send it twice."
    if draft.status == "awaiting approval" and draft.approval_id:
        waiting = [a for a in await gate.pending(workspace) if a.id == draft.approval_id]
        if waiting:
            return waiting[0]
    address = to or draft.counterparty
    if not address or "@" not in address:
        return f"Draft #{draft.id} has no e-mail address; say send draft {draft.id} to <address>."
    in_reply_to = draft.inputs.get("facts", {}).get("message_id") if isinstance(draft.inputs, dict) else None
    outcome = await gate.submit(
        send_action(draft, address, in_reply_to=in_reply_to if isinstance(in_reply_to, str) else None),
        workspace=workspace,
        operator=operator,
        intent_key=intent_key,
        mode=mode,
        key=f"draft:{draft.id}:send",
    )
    if isinstance(outcome, Parked):
        await memory.drafts.link_approval(workspace, draft.id, outcome.approval.id)
        return outcome.approval
    return messages.to_operator(outcome)


__all__ = [
    "DraftRequest",
    "Produced",
    "Revised",
    "Writer",
    "describe",
    "find",
    "inputs_hash",
    "produce",
    "prompt_for",
    "revise",
    "send",
    "send_action",
    "split_draft",
    "thread_key",
    "which_one",
]
