"""Amounts and dates as bank statements write them.

Decisions:
- Dates use ``datetime.strptime`` with explicit formats (ISO, dd.mm.yyyy, dd/mm/yyyy or
  mm/dd/yyyy, "24 Nov 2026"), never ``dateparser``: a statement must not have a date guessed.
- Amounts accept ``1.234,56``, ``1,234.56``, ``1 234,56``, ``1'234.56``, signs, ``(12.00)``,
  ``12.00-``, ``DR``/``CR`` and a currency code or €/£/$. The caller may pass the file's decimal
  mark (``connectors.bank.csv_reader`` settles it by majority).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from connectors.checks import ISO_CURRENCIES, InvalidValue

DateOrder = Literal["dmy", "mdy"]

_SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD"}
_GROUPING = " \u00a0\u202f'’"  # spaces, no-break spaces and apostrophes between thousands
_MINUS = "-\u2212"
NUMBER = re.compile(r"[0-9](?:[0-9.,\u00a0\u202f '’]*[0-9])?")
_CODE_AT_END = re.compile(r"^(.*?)\s*(?<![A-Za-z])([A-Za-z]{3})$")
_CODE_AT_START = re.compile(r"^([A-Za-z]{3})(?![A-Za-z])\s*(.*)$")


def _strip_currency(text: str) -> tuple[str, str | None]:
    for pattern, body, code in ((_CODE_AT_END, 1, 2), (_CODE_AT_START, 2, 1)):
        found = pattern.match(text)
        if found and found.group(code).upper() in ISO_CURRENCIES:
            return found.group(body).strip(), found.group(code).upper()
    for symbol, currency in _SYMBOLS.items():
        if text.startswith(symbol):
            return text[1:].strip(), currency
        if text.endswith(symbol):
            return text[:-1].strip(), currency
    return text, None


def _sign(text: str) -> tuple[str, bool]:
    """Strip the sign notation; True when the amount is negative."""
    upper = text.upper()
    if upper.endswith(("DR", "CR")):
        return text[:-2].strip(), upper.endswith("DR")
    if text.startswith("(") and text.endswith(")"):
        return text[1:-1].strip(), True
    for signs, negative in ((_MINUS, True), ("+", False)):
        if text[:1] and text[:1] in signs:
            return text[1:].strip(), negative
        if text[-1:] and text[-1:] in signs:
            return text[:-1].strip(), negative
    return text, False


def _plain_digits(number: str, decimal_mark: str | None) -> str:
    """``1.234,56`` / ``1,234.56`` / ``1 234,56`` → ``1234.56``, or ``InvalidValue``."""
    compact = number
    for char in _GROUPING:
        compact = compact.replace(char, " ")
    marks = [c for c in compact if c in ".,"]
    if decimal_mark is not None:  # the file's convention: the other mark only groups thousands
        decimal_mark = decimal_mark if decimal_mark in marks else None
    elif len(set(marks)) == 2:
        decimal_mark = marks[-1]
    elif len(marks) == 1:
        whole, fraction = compact.replace(" ", "").split(marks[0])
        if not (len(fraction) == 3 and 1 <= len(whole) <= 3 and whole != "0"):
            decimal_mark = marks[0]  # "12,50", "1234.5", "0,125"; but "1,234" groups thousands
    if decimal_mark is not None:
        if marks.count(decimal_mark) > 1:
            raise InvalidValue(f"amount {number!r} has more than one decimal mark")
        whole, fraction = compact.rsplit(decimal_mark, 1)
    else:
        whole, fraction = compact, ""
    groups = re.split(r"[., ]", whole)
    if len(groups) > 1 and not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
        raise InvalidValue(f"amount {number!r} has misplaced thousands separators")
    digits = "".join(groups)
    if not digits.isascii() or not digits.isdigit() or not (fraction == "" or fraction.isdigit()):
        raise InvalidValue(f"amount {number!r} is not a number")
    return f"{digits}.{fraction}" if fraction else digits


def parse_amount(text: str, decimal_mark: str | None = None) -> tuple[Decimal, str | None]:
    """A statement amount and the currency written with it, if any. Raises ``InvalidValue``.

    ``decimal_mark`` (``","`` or ``"."``) is the file's convention when known; without it a single
    mark followed by exactly three digits groups thousands (``1,234``) and otherwise is decimal.
    """
    body, currency = _strip_currency(text.strip())
    body, negative = _sign(body)
    if currency is None:  # "-€12.00" and "€-12.00" are both seen
        body, currency = _strip_currency(body)
        if not negative:
            body, negative = _sign(body)
    if not NUMBER.fullmatch(body):
        raise InvalidValue(f"amount {text.strip()!r} is not a number")
    value = Decimal(_plain_digits(body, decimal_mark))
    return (-value if negative else value), currency


# Explicit strptime formats; ISO and dotted dates are unambiguous, slash/dash ones follow the order.
_ISO_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
_ORDERED_FORMATS: dict[DateOrder, tuple[str, ...]] = {
    "dmy": ("%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d-%m-%y"),
    "mdy": ("%d.%m.%Y", "%d.%m.%y", "%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%m-%d-%y"),
}
_NAMED_FORMATS = ("%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %y", "%b %d, %Y", "%B %d, %Y")
_ISO_WITH_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\S")
_COMPACT = re.compile(r"^\d{8}$")


def parse_date(text: str, order: DateOrder = "dmy") -> date:
    """A statement date in one of the explicit formats. Raises ``InvalidValue``."""
    value = text.strip()
    with_time = _ISO_WITH_TIME.match(value)
    if with_time:
        value = with_time.group(1)
    formats = ("%Y%m%d",) if _COMPACT.match(value) else _ISO_FORMATS + _ORDERED_FORMATS[order] + _NAMED_FORMATS
    for pattern in formats:
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    shape = "DD/MM/YYYY" if order == "dmy" else "MM/DD/YYYY"
    raise InvalidValue(f"date {text.strip()!r} is not a date (expected YYYY-MM-DD, DD.MM.YYYY or {shape})")


__all__ = ["NUMBER", "DateOrder", "parse_amount", "parse_date"]
