"""Approval codes never reach a model.

A model that has seen a pending approval's code can ask the operator to "reply exactly: approve
F…" — an injected e-mail only has to tell it to. So every text that becomes model input (the recent
conversation, the operator's message) has its approval codes masked: the ``Code …`` line of an
approval, ``approve|deny|details|edit <code>`` and ``ap:<code>`` tokens. A code is told from an
ordinary word by looking random (a digit, an inner capital, ``_`` or ``-``) or by its ``ap:`` prefix,
so "approve the invoice" stays as it was.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection

from memory import MemoryService
from policies import approvals

HIDDEN = "[code hidden]"

_KEYWORD = r"(?:code|approval|approve|approved|deny|denied|reject|details|edit|change)"
_CODE = re.compile(
    rf"(?i)(?P<lead>\b{_KEYWORD}\s+)(?P<token>(?:ap:)?[A-Za-z0-9_-]{{6,40}})(?![A-Za-z0-9_-])"
    r"|(?P<prefixed>\bap:[A-Za-z0-9_-]{6,40})"
)


def _random_looking(token: str) -> bool:
    body = token[3:] if token.lower().startswith("ap:") else token
    return (
        token.lower().startswith("ap:")
        or any(c.isdigit() or c in "_-" for c in body)
        or any(c.isupper() for c in body[1:])
    )


def mask_codes(text: str, codes: Collection[str] = ()) -> str:
    """``text`` with every approval code replaced by ``[code hidden]``: those that look like one
    after a keyword, and every one of ``codes`` (the pending ones) wherever it stands."""
    for code in codes:
        text = text.replace(code, HIDDEN)

    def masked(match: re.Match[str]) -> str:
        if match.group("prefixed"):
            return HIDDEN
        token, lead = match.group("token"), match.group("lead")
        ours = lead.startswith("Code ")  # "Code Xyz…, expires …" in every approval we show
        return lead + HIDDEN if ours or _random_looking(token) else match.group(0)

    return _CODE.sub(masked, text)


async def pending_codes(memory: MemoryService, workspace: str) -> frozenset[str]:
    """The codes of the approvals waiting in ``workspace``: masked wherever they stand."""

    def run() -> frozenset[str]:
        with memory.db.connection() as conn:
            return frozenset(a.id for a in approvals.pending(conn, workspace))

    return await asyncio.to_thread(run)


__all__ = ["HIDDEN", "mask_codes", "pending_codes"]
