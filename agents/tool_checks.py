"""What the action tools check before they build an ``Action``, like a careful assistant would.

Each check returns ``None`` when the argument is fine, or the reason in a sentence the tool hands
back to the model (which can fix the call or ask the operator); nothing reaches the gate, so no
approval is ever requested for a call that could not run. The executors check again when they run
(``agents.gate.executors``): these checks come earlier, they do not replace them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from connectors import InvalidValue
from connectors.checks import MAX_ADDRESS_CHARS, check_amount, check_currency

ADDRESS = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[A-Za-z]{2,63}")
MAX_DUE_AHEAD = timedelta(days=3653)  # ten years: a later due date is a wrong year


def address_problem(address: str, *, name: str = "to", several: bool = True) -> str | None:
    """``address`` must be an e-mail address (or, with ``several``, a comma-separated list of them),
    not a name."""
    parts = [a.strip() for a in address.split(",")] if several else [address.strip()]
    if any(len(a) > MAX_ADDRESS_CHARS or not ADDRESS.fullmatch(a) for a in parts):
        return (
            f"{name} {address!r} is not an e-mail address; nothing was done. Use the recipient's address "
            "(from the operator's message, memory or records), or ask the operator for it."
        )
    return None


def amount_problem(amount: str) -> tuple[Decimal | None, str | None]:
    """A payment amount: a positive number with at most two decimals, within what the ledger holds."""
    try:
        value = check_amount(Decimal(amount.strip().replace(",", "")))
    except (InvalidOperation, AttributeError):
        return None, f"amount {amount!r} is not a number like 120.50; nothing was done."
    except InvalidValue as err:
        return None, f"{err}; nothing was done."
    if value < 0:
        return None, f"amount {value} is negative: a payment is a positive amount; nothing was done."
    return value, None


def currency_problem(currency: str) -> tuple[str | None, str | None]:
    try:
        return check_currency(currency), None
    except InvalidValue as err:
        return None, f"{err}; nothing was done."


def due_date_problem(due: str, today: date) -> str | None:
    """A due date: YYYY-MM-DD, today or later, within ten years."""
    try:
        when = date.fromisoformat(due.strip())
    except ValueError:
        return f"due date {due!r} is not a date like {today:%Y-%m-%d}; nothing was done."
    if when < today:
        return (
            f"due date {when:%Y-%m-%d} is in the past (today is {today:%A %Y-%m-%d}); nothing was done. "
            "Use a date from today on, or ask the operator which date they meant."
        )
    if when > today + MAX_DUE_AHEAD:
        return f"due date {when:%Y-%m-%d} is more than ten years ahead; check the year. Nothing was done."
    return None


def event_problem(starts_at: str, ends_at: str, now: datetime) -> str | None:
    """An event: ISO 8601 times with an offset, ending after it starts, not before today (``now`` in
    the operator's zone: this morning's call may still be recorded)."""
    moments = []
    for name, raw in (("starts_at", starts_at), ("ends_at", ends_at)):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            return f"{name} {raw!r} is not an ISO 8601 time like 2027-03-30T10:00:00+02:00; nothing was done."
        if moment.tzinfo is None:
            return f"{name} {raw!r} has no UTC offset; write it like 2027-03-30T10:00:00+02:00. Nothing was done."
        moments.append(moment)
    starts, ends = moments
    if ends <= starts:
        return f"the event must end after it starts ({starts_at} to {ends_at}); nothing was done."
    if starts < now.replace(hour=0, minute=0, second=0, microsecond=0):
        return (
            f"the event would start in the past ({starts_at}; today is {now:%A %Y-%m-%d}); nothing "
            "was done. Use a time from now on, or ask the operator which date they meant."
        )
    return None


__all__ = ["address_problem", "amount_problem", "currency_problem", "due_date_problem", "event_problem"]
