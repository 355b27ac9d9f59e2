"""The checks connectors apply before anything is saved or sent: one place, each limit defined once.

Each check returns the cleaned value or raises ``InvalidValue`` with a message an operator (or the
model) can act on. ``text_arg`` checks the text arguments of gated writes (e-mail, calendar, local
effects); the record checks guard what connectors bring in, and ``transaction_problems`` collects
every problem of one bank transaction, so a quarantined row says everything that is wrong with it at
once.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from connectors.errors import InvalidValue
from memory import NewTransaction

# -- text arguments of gated writes ------------------------------------------------------------

MAX_ADDRESS_CHARS = 320  # an e-mail address (RFC 5321: 64 + @ + 255)
MAX_MAIL_SUBJECT_CHARS = 500  # an outgoing subject
MAX_MAIL_BODY_CHARS = 20_000  # an outgoing body; also the default limit of ``text_arg``
MAX_TIME_CHARS = 64  # an ISO 8601 time argument
MAX_UID_CHARS = 500  # an iCalendar UID argument

MAX_PAYEE_CHARS = 200
MAX_TASK_TITLE_CHARS = 500
MAX_EVENT_LENGTH = timedelta(days=31)  # a longer event is almost certainly a wrong date
MAX_EVENT_AHEAD = timedelta(days=3653)  # ten years
MAX_LOCATION_CHARS = 1_000

# A Message-ID as RFC 5322 allows it (printable ASCII in angle brackets), short enough to index; the
# e-mail connector parses incoming ids with the same pattern, so any id it stored can be replied to.
MESSAGE_ID = re.compile(r"<([!-;=?-~]{1,500})>")


def text_arg(args: dict[str, Any], name: str, limit: int = MAX_MAIL_BODY_CHARS, *, one_line: bool = False) -> str:
    """The text argument ``name``, stripped: present, not blank, at most ``limit`` characters.

    ``one_line`` folds runs of white space (line breaks too) into one space before measuring.
    """
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{name} is missing")
    if one_line:
        value = " ".join(value.split())
    if len(value) > limit:
        raise InvalidValue(f"{name} is longer than {limit} characters")
    return value.strip()


# -- records from connectors -------------------------------------------------------------------

# ISO 4217 active codes (2024), without funds codes, precious metals and testing codes.
ISO_CURRENCIES: frozenset[str] = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)
EARLIEST_DATE = date(1990, 1, 1)  # older "bank transactions" are typos or a wrong date format
FUTURE_SLACK = timedelta(days=7)  # banks pre-book a few days ahead; more is a wrong date format
MAX_AMOUNT = Decimal("999999999999.99")  # what numeric(14, 2) holds
MAX_TEXT_CHARS = 1_000
CENT = Decimal("0.01")


def check_amount(amount: Decimal) -> Decimal:
    """A finite, non-zero amount with at most two decimals, within what the ledger can hold."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidValue(f"amount {amount} is not a finite number")
    if abs(amount) > MAX_AMOUNT:  # checked first: quantize() fails on numbers beyond the context precision
        raise InvalidValue(f"amount {amount} is larger than {MAX_AMOUNT}")
    if amount != amount.quantize(CENT):
        raise InvalidValue(f"amount {amount} has more than 2 decimals")
    if amount == 0:
        raise InvalidValue("amount is zero: not a money movement")
    return amount.quantize(CENT)


def check_currency(code: str) -> str:
    """An active ISO 4217 code; case and surrounding spaces are forgiven."""
    cleaned = code.strip().upper() if isinstance(code, str) else ""
    if cleaned not in ISO_CURRENCIES:
        raise InvalidValue(f"currency {code!r} is not an ISO 4217 code such as EUR or USD")
    return cleaned


def check_posted_date(posted: date, today: date) -> date:
    """Not before 1990 and at most a week after ``today``."""
    if posted < EARLIEST_DATE:
        raise InvalidValue(f"date {posted.isoformat()} is before {EARLIEST_DATE.year}")
    if posted > today + FUTURE_SLACK:
        raise InvalidValue(f"date {posted.isoformat()} is more than {FUTURE_SLACK.days} days in the future")
    return posted


def check_description(counterparty: str, memo: str) -> None:
    """Someone must be able to tell what the transaction was: a counterparty or a memo."""
    if not counterparty.strip() and not memo.strip():
        raise InvalidValue("no counterparty and no memo: nothing says what this transaction is")
    for name, text in (("counterparty", counterparty), ("memo", memo)):
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidValue(f"{name} is longer than {MAX_TEXT_CHARS} characters")
        if any(ord(c) < 32 for c in text):
            raise InvalidValue(f"{name} contains control characters")


def transaction_problems(record: NewTransaction, today: date) -> list[str]:
    """Everything wrong with one bank transaction (empty when it may be saved)."""
    checks = (
        lambda: check_amount(record.amount),
        lambda: check_currency(record.currency),
        lambda: check_posted_date(record.posted_at, today),
        lambda: check_description(record.counterparty, record.memo),
    )
    problems = []
    for check in checks:
        try:
            check()
        except InvalidValue as err:
            problems.append(str(err))
    if not record.external_id.strip():
        problems.append("no transaction id")
    return problems


__all__ = [
    "EARLIEST_DATE",
    "FUTURE_SLACK",
    "ISO_CURRENCIES",
    "MAX_ADDRESS_CHARS",
    "MAX_EVENT_AHEAD",
    "MAX_EVENT_LENGTH",
    "MAX_LOCATION_CHARS",
    "MAX_MAIL_BODY_CHARS",
    "MAX_MAIL_SUBJECT_CHARS",
    "MAX_PAYEE_CHARS",
    "MAX_TASK_TITLE_CHARS",
    "MAX_TIME_CHARS",
    "MAX_UID_CHARS",
    "MESSAGE_ID",
    "InvalidValue",
    "check_amount",
    "check_currency",
    "check_description",
    "check_posted_date",
    "text_arg",
    "transaction_problems",
]
