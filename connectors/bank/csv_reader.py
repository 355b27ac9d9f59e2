"""CSV statements through the stdlib ``csv`` module, streamed: one pass settles the file's
conventions, one yields the rows, so a large statement costs memory for its transaction ids only.

Decisions:
- Slash and dash dates are day-first unless most dates that can only be read one way are
  month-first (or the caller says so); a tie is refused.
- The decimal mark is the one most amounts of the file prove (``1.200,00``, ``-3,50``), so in a
  comma-decimal file ``12,345`` has three decimals and is quarantined instead of becoming 12345.
- Rows without an id column get ``csv:<hash of date, amount, currency, counterparty, memo>``,
  with ``-2``, ``-3``… for repeats of the same content in the file, so re-importing (or an
  overlapping export) recognises every row while two identical coffees on one day stay two.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from connectors.bank.amounts import NUMBER, DateOrder, parse_amount, parse_date
from connectors.bank.statement import EXPECTED, Statement, clean_text, rejected_row
from connectors.checks import ISO_CURRENCIES, InvalidValue, transaction_problems
from connectors.errors import StatementError
from memory import NewTransaction, StatementItem

Field = Literal[
    "date", "amount", "debit", "credit", "direction", "counterparty", "description", "memo", "currency", "id"
]

_SLASHED = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})$")
MAX_PREAMBLE_ROWS = 20  # lines of account information some banks put above the header
csv.field_size_limit(1 << 20)

# Header names per field, best first, after folding (lower case, accents and punctuation removed).
_HEADERS: tuple[tuple[Field, tuple[str, ...]], ...] = (
    ("date", ("date", "booking date", "transaction date", "posting date", "posted date", "posted", "buchungstag")),
    ("date", ("buchungsdatum", "datum", "date operation", "date de l operation", "fecha", "value date", "valuta")),
    ("amount", ("amount", "transaction amount", "betrag", "umsatz", "montant", "importe", "value")),
    ("debit", ("debit", "debit amount", "withdrawal", "withdrawals", "paid out", "money out", "soll", "ausgang")),
    ("credit", ("credit", "credit amount", "deposit", "deposits", "paid in", "money in", "haben", "eingang")),
    ("direction", ("debit credit", "credit debit", "dr cr", "cr dr", "soll haben", "s h", "direction")),
    ("counterparty", ("payee", "counterparty", "name", "beneficiary", "payer", "payer payee", "payee payer")),
    ("counterparty", ("auftraggeber empfanger", "beguenstigter zahlungspflichtiger", "empfanger", "merchant")),
    ("counterparty", ("other party", "recipient", "zahlungsempfanger", "beneficiaire")),
    ("description", ("description", "details", "transaction details", "narrative", "buchungstext", "libelle")),
    ("description", ("text", "transaction description", "particulars")),
    ("memo", ("memo", "reference", "remittance information", "verwendungszweck", "notes", "note", "purpose")),
    ("memo", ("payment reference", "communication")),
    ("currency", ("currency", "ccy", "wahrung", "waehrung", "devise", "moneda", "currency code")),
    ("id", ("id", "transaction id", "fitid", "unique id", "transaction reference", "bank reference")),
)
_NEGATIVE_DIRECTIONS = frozenset({"d", "dr", "debit", "s", "soll", "-", "out"})
_POSITIVE_DIRECTIONS = frozenset({"c", "cr", "credit", "h", "haben", "+", "in"})
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class _Layout:
    encoding: str
    delimiter: str
    header_line: int
    width: int
    columns: dict[Field, int]
    currency: str | None  # from the header ("Amount (EUR)") or the caller
    order: DateOrder = "dmy"
    decimal_mark: str | None = None  # None: decide per amount


def _fold_header(name: str) -> tuple[str, str | None]:
    """``"Betrag (EUR)"`` → ``("betrag", "EUR")``."""
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^0-9a-z]+", " ", text).split()
    currency = None
    if len(words) > 1 and words[-1].upper() in ISO_CURRENCIES:
        currency = words.pop().upper()
    return " ".join(words), currency


def _map_header(row: list[str]) -> tuple[dict[Field, int], str | None] | None:
    folded = [_fold_header(cell) for cell in row]
    position: dict[str, int] = {}
    for index, (name, _) in enumerate(folded):
        position.setdefault(name, index)
    columns: dict[Field, int] = {}
    for field_name, names in _HEADERS:
        for name in names:
            if field_name not in columns and name in position and position[name] not in columns.values():
                columns[field_name] = position[name]
    if "date" not in columns or not ({"amount", "debit", "credit"} & columns.keys()):
        return None
    amount_columns = [columns[f] for f in ("amount", "debit", "credit") if f in columns]
    currency = next((folded[i][1] for i in amount_columns if folded[i][1]), None)
    return columns, currency


def _encoding(path: Path, head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"  # what European banks export when it is not UTF-8
    return "utf-8-sig"


def _rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Rows with the line each one starts on (quoted fields may span lines)."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        line = 1
        for row in reader:
            yield line, row
            line = reader.line_num + 1


def _find_layout(path: Path, head: bytes, currency: str | None) -> _Layout:
    encoding = _encoding(path, head)
    best: _Layout | None = None
    for delimiter in _DELIMITERS:
        try:
            for line, row in itertools.islice(_rows(path, encoding, delimiter), MAX_PREAMBLE_ROWS):
                mapped = _map_header(row)
                if mapped is not None:
                    columns, header_currency = mapped
                    layout = _Layout(encoding, delimiter, line, len(row), columns, header_currency or currency)
                    if best is None or len(columns) > len(best.columns):
                        best = layout
                    break
        except csv.Error:
            continue
    if best is None:
        raise StatementError(
            f"{path}: no header row with a date and an amount column in the first {MAX_PREAMBLE_ROWS} lines; "
            f"{EXPECTED} with columns such as Date, Amount (or Debit and Credit), Description, Currency"
        )
    if "currency" not in best.columns and best.currency is None:
        raise StatementError(f"{path}: the statement has no currency column; say which currency it is in (e.g. EUR)")
    return best


def _evidence(text: str) -> tuple[DateOrder | None, str | None]:
    """What one cell proves: day-first or month-first dates, comma or point decimals."""
    slashed = _SLASHED.match(text)
    if slashed:
        first, second = int(slashed.group(1)), int(slashed.group(2))
        if 12 < first <= 31 and 1 <= second <= 12:
            return "dmy", None
        if 12 < second <= 31 and 1 <= first <= 12:
            return "mdy", None
        return None, None
    number = NUMBER.search(text)
    marks = [c for c in number.group() if c in ".,"] if number else []
    if len(set(marks)) == 2:
        return None, marks[-1]
    if number and len(marks) == 1 and 1 <= len(number.group().rsplit(marks[0], 1)[1]) <= 2:
        return None, marks[0]
    return None, None


def _with_conventions(path: Path, layout: _Layout, order: DateOrder | None) -> _Layout:
    """Settle the file's date order and decimal mark by majority over all its rows (one streaming pass).

    Dates are day-first unless month-first ones are the majority; a tie is refused. Amounts use the
    decimal mark most rows prove; with no proof each amount is read on its own (``parse_amount``).
    """
    dates: Counter[DateOrder] = Counter()
    marks: Counter[str] = Counter()
    date_column = layout.columns["date"]
    amount_columns = [layout.columns[f] for f in ("amount", "debit", "credit") if f in layout.columns]
    for line, row in _rows(path, layout.encoding, layout.delimiter):
        if line <= layout.header_line or len(row) < layout.width:
            continue
        found_order, _ = _evidence(row[date_column].strip())
        if found_order:
            dates[found_order] += 1
        for column in amount_columns:
            _, mark = _evidence(row[column].strip())
            if mark:
                marks[mark] += 1
    if order is None:
        if dates["dmy"] and dates["dmy"] == dates["mdy"]:
            raise StatementError(
                f"{path}: as many dates read only as day/month as only as month/day ({dates['dmy']} each); "
                "say which order the file uses"
            )
        order = "mdy" if dates["mdy"] > dates["dmy"] else "dmy"
    ranked = marks.most_common()
    decimal_mark = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
    return replace(layout, order=order, decimal_mark=decimal_mark)


def read_csv(path: Path, head: bytes, currency: str | None, order: DateOrder | None, today: date) -> Statement:
    layout = _with_conventions(path, _find_layout(path, head, currency), order)
    return Statement(path, "csv", None, _csv_items(path, layout, today))


def _csv_items(path: Path, layout: _Layout, today: date) -> Iterator[StatementItem]:
    occurrences: dict[str, int] = {}
    for line, row in _rows(path, layout.encoding, layout.delimiter):
        if line <= layout.header_line or not any(cell.strip() for cell in row):
            continue  # preamble, header and blank lines
        item = _csv_item(line, row, layout)
        if isinstance(item, NewTransaction):
            if not item.external_id:
                key = (item.posted_at.isoformat(), str(item.amount), item.currency, item.counterparty, item.memo)
                digest = hashlib.sha256("\x1f".join(key).casefold().encode()).hexdigest()[:32]
                seen = occurrences[digest] = occurrences.get(digest, 0) + 1  # digests keep this dict small
                item = replace(item, external_id=f"csv:{digest}" if seen == 1 else f"csv:{digest}-{seen}")
            problems = transaction_problems(item, today)
            if problems:
                item = rejected_row(line, layout.delimiter.join(row), problems)
        yield item


def _csv_amount(row: list[str], layout: _Layout) -> tuple[Decimal, str | None]:
    cell = {name: row[index].strip() for name, index in layout.columns.items()}
    if cell.get("amount"):
        amount, currency = parse_amount(cell["amount"], layout.decimal_mark)
    else:
        debit, credit = cell.get("debit", ""), cell.get("credit", "")
        if debit and credit:
            raise InvalidValue(f"both debit {debit!r} and credit {credit!r} are filled")
        if not debit and not credit:
            raise InvalidValue("no amount")
        amount, currency = parse_amount(debit or credit, layout.decimal_mark)
        amount = -abs(amount) if debit else abs(amount)
    direction = cell.get("direction", "").casefold()
    if direction in _NEGATIVE_DIRECTIONS:
        amount = -abs(amount)
    elif direction in _POSITIVE_DIRECTIONS:
        amount = abs(amount)
    return amount, currency


def _csv_item(line: int, row: list[str], layout: _Layout) -> StatementItem:
    """The row as a transaction (validated by the caller, once it has an id) or why it is unreadable."""
    raw = layout.delimiter.join(row)
    extra = row[layout.width :]
    if len(row) < layout.width or any(cell.strip() for cell in extra):
        return rejected_row(line, raw, [f"has {len(row)} fields where the header has {layout.width}"])
    cols = layout.columns
    problems = []
    posted, amount, written_currency = date.min, Decimal(0), None
    try:
        posted = parse_date(row[cols["date"]], layout.order)
    except InvalidValue as err:
        problems.append(str(err))
    try:
        amount, written_currency = _csv_amount(row, layout)
    except InvalidValue as err:
        problems.append(str(err))
    if problems:
        return rejected_row(line, raw, problems)

    def text(name: Field) -> str:
        return clean_text(row[cols[name]]) if name in cols else ""

    memo = " · ".join(part for part in (text("description"), text("memo")) if part)
    currency = text("currency").upper() or written_currency or layout.currency or ""
    return NewTransaction(text("id"), posted, amount, currency, text("counterparty"), memo)


__all__ = ["Field", "read_csv"]
