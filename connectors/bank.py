"""Bank statements → canonical transactions: OFX/QFX through ``ofxtools``, CSV through the stdlib.

``read_statements(path)`` recognises the format by content (not by extension) and returns one
``Statement`` per account in the file, whose ``items`` are ``NewTransaction`` records and, for rows
that failed parsing or semantic validation (``connectors.validation``), ``RejectedRow`` entries with
the line and the reason. ``Finance.import_transactions`` writes both in one database transaction.

A file that is not a statement at all (empty, binary, a spreadsheet or PDF, a CSV without a date
and an amount column, broken OFX) raises ``StatementError`` naming the file and what was expected,
before anything is written.

CSV is streamed: it is read a row at a time (one pass settles the file's conventions, one yields
the rows), so a large statement costs memory for its transaction ids only. OFX is parsed whole by ``ofxtools`` (its
parser works on the full text) and then converted one transaction at a time.

Decisions:
- CSV dates use ``datetime.strptime`` with explicit formats (ISO, dd.mm.yyyy, dd/mm/yyyy or
  mm/dd/yyyy, "24 Nov 2026"), never ``dateparser``: a statement must not have a date guessed.
  Slash and dash dates are day-first unless most dates that can only be read one way are
  month-first (or the caller says so); a tie is refused.
- CSV amounts accept ``1.234,56``, ``1,234.56``, ``1 234,56``, ``1'234.56``, signs, ``(12.00)``,
  ``12.00-``, ``DR``/``CR`` and a currency code or €/£/$. The decimal mark is the one most amounts
  of the file prove (``1.200,00``, ``-3,50``), so in a comma-decimal file ``12,345`` has three
  decimals and is quarantined instead of becoming 12345.
- CSV rows without an id column get ``csv:<hash of date, amount, currency, counterparty, memo>``,
  with ``-2``, ``-3``… for repeats of the same content in the file, so re-importing (or an
  overlapping export) recognises every row while two identical coffees on one day stay two.
- OFX posting dates are taken as the bank wrote them (its local date), not converted to UTC.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import re
import unicodedata
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from connectors.errors import ConnectorError
from connectors.validation import ISO_CURRENCIES, InvalidRecord, check_currency, transaction_problems
from memory import NewTransaction, RejectedRow, StatementItem

DateOrder = Literal["dmy", "mdy"]
Field = Literal[
    "date", "amount", "debit", "credit", "direction", "counterparty", "description", "memo", "currency", "id"
]

HEAD_BYTES = 64 * 1024
MAX_PREAMBLE_ROWS = 20  # lines of account information some banks put above the header
MAX_RAW_CHARS = 2_000
MAX_PROBLEM_CHARS = 500
csv.field_size_limit(1 << 20)


class StatementError(ConnectorError):
    """The file is not a bank statement SoloOS can read; nothing was imported."""


@dataclass(frozen=True)
class Statement:
    """One account's transactions from a statement file. ``items`` can be iterated once."""

    path: Path
    kind: Literal["ofx", "csv"]
    account: str | None  # the account id the file names (OFX); None for CSV
    items: Iterator[StatementItem]

    @property
    def source(self) -> str:
        return self.path.name


# -- amounts and dates ---------------------------------------------------------------------------

_SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD"}
_GROUPING = " \u00a0\u202f'’"  # spaces, no-break spaces and apostrophes between thousands
_MINUS = "-\u2212"
_NUMBER = re.compile(r"[0-9](?:[0-9.,\u00a0\u202f '’]*[0-9])?")
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
    """``1.234,56`` / ``1,234.56`` / ``1 234,56`` → ``1234.56``, or ``InvalidRecord``."""
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
            raise InvalidRecord(f"amount {number!r} has more than one decimal mark")
        whole, fraction = compact.rsplit(decimal_mark, 1)
    else:
        whole, fraction = compact, ""
    groups = re.split(r"[., ]", whole)
    if len(groups) > 1 and not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
        raise InvalidRecord(f"amount {number!r} has misplaced thousands separators")
    digits = "".join(groups)
    if not digits.isascii() or not digits.isdigit() or not (fraction == "" or fraction.isdigit()):
        raise InvalidRecord(f"amount {number!r} is not a number")
    return f"{digits}.{fraction}" if fraction else digits


def parse_amount(text: str, decimal_mark: str | None = None) -> tuple[Decimal, str | None]:
    """A statement amount and the currency written with it, if any. Raises ``InvalidRecord``.

    ``decimal_mark`` (``","`` or ``"."``) is the file's convention when known; without it a single
    mark followed by exactly three digits groups thousands (``1,234``) and otherwise is decimal.
    """
    body, currency = _strip_currency(text.strip())
    body, negative = _sign(body)
    if currency is None:  # "-€12.00" and "€-12.00" are both seen
        body, currency = _strip_currency(body)
        if not negative:
            body, negative = _sign(body)
    if not _NUMBER.fullmatch(body):
        raise InvalidRecord(f"amount {text.strip()!r} is not a number")
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
_SLASHED = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})$")


def parse_date(text: str, order: DateOrder = "dmy") -> date:
    """A statement date in one of the explicit formats. Raises ``InvalidRecord``."""
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
    raise InvalidRecord(f"date {text.strip()!r} is not a date (expected YYYY-MM-DD, DD.MM.YYYY or {shape})")


def _clean(text: str) -> str:
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cc" or c.isspace()).split())


def _rejected(line: int, raw: str, problems: list[str]) -> RejectedRow:
    return RejectedRow(line, raw[:MAX_RAW_CHARS], "; ".join(problems)[:MAX_PROBLEM_CHARS])


# -- format detection ----------------------------------------------------------------------------


def read_statements(
    path: Path,
    *,
    currency: str | None = None,
    date_order: DateOrder | None = None,
    today: date | None = None,
) -> list[Statement]:
    """The statements in ``path``. ``currency`` is the default for a CSV without a currency column;
    ``date_order`` settles dd/mm versus mm/dd for CSV dates; ``today`` bounds plausible dates."""
    today = today or date.today()
    if currency is not None:
        try:
            currency = check_currency(currency)
        except InvalidRecord as err:
            raise StatementError(str(err)) from err
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as err:
        raise StatementError(f"{path}: cannot read the file ({err.strerror or err})") from err
    _refuse_non_text(path, head)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"OFXHEADER") or (start.startswith(b"<?xml") and b"<?OFX" in head):
        return _read_ofx(path, today)
    return [_read_csv(path, head, currency, date_order, today)]


_EXPECTED = "expected an OFX/QFX or CSV bank statement"


def _refuse_non_text(path: Path, head: bytes) -> None:
    if not head.strip():
        raise StatementError(f"{path}: the file is empty; {_EXPECTED}")
    if head.startswith(b"PK\x03\x04"):
        raise StatementError(f"{path}: a ZIP archive or Excel workbook; export the statement as CSV or OFX")
    if head.startswith(b"%PDF"):
        raise StatementError(f"{path}: a PDF; download the statement as CSV or OFX from the bank")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise StatementError(f"{path}: binary data, not text; {_EXPECTED}")


# -- OFX -----------------------------------------------------------------------------------------


def _read_ofx(path: Path, today: date) -> list[Statement]:
    from ofxtools.Parser import OFXTree

    data = path.read_bytes()
    tree = OFXTree()
    try:
        tree.parse(io.BytesIO(data))
    except Exception as err:  # ofxtools raises header, syntax, ElementTree and decoding errors alike
        raise StatementError(f"{path}: not a readable OFX/QFX statement ({err})") from err
    root = tree.getroot()
    if root is None:
        raise StatementError(f"{path}: an OFX header without a body")
    elements = list(root.iter("STMTTRN"))
    lines = _tag_lines(data, b"<STMTTRN>")
    line_of = {id(e): n for e, n in zip(elements, lines, strict=True)} if len(lines) == len(elements) else {}
    statements = []
    for element in root.iter():
        if element.tag not in ("STMTRS", "CCSTMTRS"):
            continue
        account = element.findtext("BANKACCTFROM/ACCTID") or element.findtext("CCACCTFROM/ACCTID") or ""
        default_currency = (element.findtext("CURDEF") or "").strip()
        transactions = element.findall("BANKTRANLIST/STMTTRN")
        items = (_ofx_item(t, line_of.get(id(t), n), default_currency, today) for n, t in enumerate(transactions, 1))
        statements.append(Statement(path, "ofx", account.strip() or None, items))
    if not statements:
        raise StatementError(f"{path}: an OFX file without a bank or credit-card statement (STMTRS or CCSTMTRS)")
    return statements


def _tag_lines(data: bytes, tag: bytes) -> list[int]:
    """The line number of every occurrence of ``tag``, in one pass."""
    lines, line, position = [], 1, 0
    for found in re.finditer(re.escape(tag), data):
        line += data.count(b"\n", position, found.start())
        position = found.start()
        lines.append(line)
    return lines


def _ofx_item(element: ET.Element, line: int, default_currency: str, today: date) -> StatementItem:
    from ofxtools.models.base import Aggregate

    raw = ET.tostring(element, encoding="unicode")
    fields = {child.tag: (child.text or "").strip() for child in element}
    if fields.get("CORRECTACTION"):
        what = f"{fields['CORRECTACTION']} of transaction {fields.get('CORRECTFITID', '?')}"
        return _rejected(line, raw, [f"a correction ({what}); apply it by hand"])
    try:
        with warnings.catch_warnings():  # over-long names are kept; ofxtools only warns about them
            warnings.simplefilter("ignore")
            trn = Aggregate.from_etree(element)
    except ArithmeticError:
        return _rejected(line, raw, [f"amount TRNAMT {fields.get('TRNAMT')!r} is not a number"])
    except Exception as err:  # ofxtools validation raises ValueError, spec and type errors alike
        return _rejected(line, raw, [f"not a valid OFX transaction: {err}"])
    problems = []
    try:  # the bank's own date: DTPOSTED starts YYYYMMDD in its time zone; ofxtools would shift it to UTC
        posted = datetime.strptime(fields.get("DTPOSTED", "")[:8], "%Y%m%d").date()
    except ValueError:
        problems.append(f"posting date {fields.get('DTPOSTED')!r} is not a date")
        posted = date.min
    currency = trn.currency.cursym if getattr(trn, "currency", None) is not None else default_currency
    payee = trn.name or (trn.payee.name if trn.payee is not None else "")
    record = NewTransaction(
        external_id=str(trn.fitid).strip(),
        posted_at=posted,
        amount=trn.trnamt,
        currency=str(currency or "").strip().upper(),
        counterparty=_clean(payee or ""),
        memo=_clean(trn.memo or ""),
    )
    problems = problems or transaction_problems(record, today)
    return _rejected(line, raw, problems) if problems else record


# -- CSV -----------------------------------------------------------------------------------------

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
            f"{_EXPECTED} with columns such as Date, Amount (or Debit and Credit), Description, Currency"
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
    number = _NUMBER.search(text)
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


def _read_csv(path: Path, head: bytes, currency: str | None, order: DateOrder | None, today: date) -> Statement:
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
                item = _rejected(line, layout.delimiter.join(row), problems)
        yield item


def _csv_amount(row: list[str], layout: _Layout) -> tuple[Decimal, str | None]:
    cell = {name: row[index].strip() for name, index in layout.columns.items()}
    if cell.get("amount"):
        amount, currency = parse_amount(cell["amount"], layout.decimal_mark)
    else:
        debit, credit = cell.get("debit", ""), cell.get("credit", "")
        if debit and credit:
            raise InvalidRecord(f"both debit {debit!r} and credit {credit!r} are filled")
        if not debit and not credit:
            raise InvalidRecord("no amount")
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
        return _rejected(line, raw, [f"has {len(row)} fields where the header has {layout.width}"])
    cols = layout.columns
    problems = []
    posted, amount, written_currency = date.min, Decimal(0), None
    try:
        posted = parse_date(row[cols["date"]], layout.order)
    except InvalidRecord as err:
        problems.append(str(err))
    try:
        amount, written_currency = _csv_amount(row, layout)
    except InvalidRecord as err:
        problems.append(str(err))
    if problems:
        return _rejected(line, raw, problems)

    def text(name: Field) -> str:
        return _clean(row[cols[name]]) if name in cols else ""

    memo = " · ".join(part for part in (text("description"), text("memo")) if part)
    currency = text("currency").upper() or written_currency or layout.currency or ""
    return NewTransaction(text("id"), posted, amount, currency, text("counterparty"), memo)


__all__ = ["DateOrder", "Statement", "StatementError", "parse_amount", "parse_date", "read_statements"]
