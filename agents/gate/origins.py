"""Where an action's sensitive arguments came from, and what a tainted turn may do.

A turn whose model read outside content (``agents.untrusted.Taint``) can have been talked into
anything, so ``hold_tainted`` raises every action it asks for to at least ``approve``, naming what
was read. ``origin_risks`` names each sensitive value — an IBAN, a recipient or attendee, a URL —
that appears in that outside text ("IBAN … from an e-mail by billing@…, received 27 Nov; not in your
records"), and a bank account that differs from the one the operator keeps for that payee.
``invitees`` are the people a calendar action would notify; inviting anyone needs the operator.
These are pure functions of the action, what the turn read and the operator's records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from agents.untrusted import OutsideText
from policies import Action, Decision

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_RECIPIENT_ARGS = ("to", "attendee", "payee")


@dataclass(frozen=True)
class Sensitive:
    kind: str  # "IBAN", "recipient", "attendee", "payee", "URL"
    value: str


def compact_iban(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def ibans_in(text: str) -> list[str]:
    return [compact_iban(m.group(0)) for m in _IBAN.finditer(text.upper())]


def sensitive_values(action: Action) -> list[Sensitive]:
    """The values of ``action`` a wrong source would make dangerous: who it reaches, which account
    money goes to, which links it carries."""
    found: list[Sensitive] = []
    for name in _RECIPIENT_ARGS:
        value = action.args.get(name)
        if isinstance(value, str) and value.strip():
            found.append(Sensitive("recipient" if name == "to" else name, value.strip()))
    for name, value in action.args.items():
        if name.startswith("__") or not isinstance(value, str):
            continue
        found += [Sensitive("IBAN", iban) for iban in ibans_in(value)]
        found += [Sensitive("URL", m.group(0).rstrip(".,;:")) for m in _URL.finditer(value)]
    return list(dict.fromkeys(found))


def invitees(action: Action) -> list[str]:
    """Everyone a calendar action would invite (and so notify at once)."""
    if action.type != "calendar.create":
        return []
    value = action.args.get("attendee")
    return [a.strip() for a in str(value).split(",") if a.strip()] if value else []


def _appears(value: Sensitive, read: OutsideText) -> bool:
    if value.kind == "IBAN":
        return value.value in compact_iban(read.text)
    return value.value.lower() in read.text.lower()


def origin_risks(
    action: Action, outside: Sequence[OutsideText], known_accounts: Mapping[str, frozenset[str]] | None = None
) -> tuple[str, ...]:
    """The risks in where ``action``'s sensitive values came from: each one found in the outside text
    the turn read, named with that source; an IBAN that is not the one the operator's records keep
    for the payee the action names."""
    accounts = known_accounts or {}
    everywhere = frozenset().union(*accounts.values()) if accounts else frozenset()
    risks: list[str] = []
    for value in sensitive_values(action):
        source = next((r for r in outside if _appears(value, r)), None)
        if source is not None:
            line = f"{value.kind} {value.value} from {source.describe()}"
            if value.kind == "IBAN" and value.value not in everywhere:
                line += "; not in your records"
            risks.append(line)
    risks += changed_bank_details(action, accounts)
    return tuple(dict.fromkeys(risks))


def changed_bank_details(action: Action, known_accounts: Mapping[str, frozenset[str]]) -> list[str]:
    """A known payee named in the action with an IBAN that is not the account on record for them."""
    wanted = [v.value for v in sensitive_values(action) if v.kind == "IBAN"]
    if not wanted:
        return []
    text = " ".join(str(v) for k, v in action.args.items() if not k.startswith("__")).lower()
    risks = []
    for payee, accounts in known_accounts.items():
        if not accounts or not re.search(rf"\b{re.escape(payee.lower())}\b", text):
            continue
        for iban in wanted:
            if iban not in accounts:
                kept = ", ".join(sorted(accounts))
                risks.append(f"changed bank details: {iban} is not the account your records keep for {payee} ({kept})")
    return risks


def hold_tainted(decision: Decision, sources: str) -> Decision:
    """In a turn that read outside content nothing happens without the operator: at least approve."""
    if decision.level == "deny":
        return decision
    what = f" ({sources})" if sources else ""
    reason = f"{decision.reason}; the request came in a turn that read outside content{what}"
    return replace(decision, level="approve", reason=reason)


def with_invitees(decision: Decision, action: Action, operator: str) -> Decision:
    """Inviting anyone other than the operator needs their approval, and names every invitee."""
    people = [p for p in invitees(action) if p.lower() != operator.lower()]
    if not people:
        return decision
    named = ", ".join(people)
    risks = (*decision.risks, f"invites {named}: they are notified at once")
    if decision.level in ("allow", "notify"):
        return replace(decision, level="approve", reason=f"{decision.reason}; it invites {named}", risks=risks)
    return replace(decision, risks=risks)


def with_risks(decision: Decision, extra: Iterable[str]) -> Decision:
    added = tuple(r for r in extra if r not in decision.risks)
    return replace(decision, risks=(*decision.risks, *added)) if added else decision


def accounts_from_notes(contacts: Iterable[tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    """The bank accounts the operator keeps: IBANs in the notes of their own contacts, by name."""
    found: dict[str, frozenset[str]] = {}
    for name, notes in contacts:
        ibans = frozenset(ibans_in(notes or ""))
        if ibans:
            found[name] = ibans
    return found


__all__ = [
    "Sensitive",
    "accounts_from_notes",
    "changed_bank_details",
    "compact_iban",
    "hold_tainted",
    "ibans_in",
    "invitees",
    "origin_risks",
    "sensitive_values",
    "with_invitees",
    "with_risks",
]
