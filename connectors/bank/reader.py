"""``read_statements(path)``: the statements in a file, whose format is recognised by content (not
by extension). A file that is not a statement at all (empty, binary, a spreadsheet or PDF, a CSV
without a date and an amount column, broken OFX) raises ``StatementError`` naming the file and
what was expected, before anything is written. A file over ``MAX_STATEMENT_BYTES`` is refused by its
size before a byte of it is parsed (a 42 MB OFX once took 1.29 GB of memory to parse)."""

from __future__ import annotations

import codecs
import os
from datetime import date
from pathlib import Path

from connectors.bank.amounts import DateOrder
from connectors.bank.csv_reader import read_csv
from connectors.bank.ofx import read_ofx
from connectors.bank.statement import EXPECTED, MAX_STATEMENT_BYTES, Statement, refuse_oversized
from connectors.checks import InvalidValue, check_currency
from connectors.errors import StatementError
from memory import Clock

HEAD_BYTES = 64 * 1024


def read_statements(
    path: Path,
    *,
    currency: str | None = None,
    date_order: DateOrder | None = None,
    today: date | None = None,
) -> list[Statement]:
    """The statements in ``path``. ``currency`` is the default for a CSV without a currency column;
    ``date_order`` settles dd/mm versus mm/dd for CSV dates; ``today`` (default: today in UTC, from
    ``memory.Clock``) bounds plausible dates."""
    today = today or Clock().today()
    if currency is not None:
        try:
            currency = check_currency(currency)
        except InvalidValue as err:
            raise StatementError(str(err)) from err
    try:
        with path.open("rb") as handle:
            refuse_oversized(path, os.fstat(handle.fileno()).st_size)
            head = handle.read(HEAD_BYTES)
    except OSError as err:
        raise StatementError(f"{path}: cannot read the file ({err.strerror or err})") from err
    _refuse_non_text(path, head)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"OFXHEADER") or (start.startswith(b"<?xml") and b"<?OFX" in head):
        return read_ofx(path, today)
    return [read_csv(path, head, currency, date_order, today)]


def _refuse_non_text(path: Path, head: bytes) -> None:
    if not head.strip():
        raise StatementError(f"{path}: the file is empty; {EXPECTED}")
    if head.startswith(b"PK\x03\x04"):
        raise StatementError(f"{path}: a ZIP archive or Excel workbook; export the statement as CSV or OFX")
    if head.startswith(b"%PDF"):
        raise StatementError(f"{path}: a PDF; download the statement as CSV or OFX from the bank")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise StatementError(f"{path}: binary data, not text; {EXPECTED}")


__all__ = ["MAX_STATEMENT_BYTES", "read_statements"]
