"""OFX/QFX statements through ``ofxtools``: parsed whole (its parser works on the full text), then
converted one transaction at a time. Posting dates are taken as the bank wrote them (its local
date), not converted to UTC."""

from __future__ import annotations

import io
import re
import warnings
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path

from connectors.bank.statement import MAX_STATEMENT_BYTES, Statement, clean_text, refuse_oversized, rejected_row
from connectors.checks import transaction_problems
from connectors.errors import StatementError
from memory import NewTransaction, StatementItem


def read_ofx(path: Path, today: date) -> list[Statement]:
    from ofxtools.Parser import OFXTree

    with path.open("rb") as handle:
        data = handle.read(MAX_STATEMENT_BYTES + 1)  # the file may have grown since its size was checked
    refuse_oversized(path, len(data))
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
        return rejected_row(line, raw, [f"a correction ({what}); apply it by hand"])
    try:
        with warnings.catch_warnings():  # over-long names are kept; ofxtools only warns about them
            warnings.simplefilter("ignore")
            trn = Aggregate.from_etree(element)
    except ArithmeticError:
        return rejected_row(line, raw, [f"amount TRNAMT {fields.get('TRNAMT')!r} is not a number"])
    except Exception as err:  # ofxtools validation raises ValueError, spec and type errors alike
        return rejected_row(line, raw, [f"not a valid OFX transaction: {err}"])
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
        counterparty=clean_text(payee or ""),
        memo=clean_text(trn.memo or ""),
    )
    problems = problems or transaction_problems(record, today)
    return rejected_row(line, raw, problems) if problems else record


__all__ = ["read_ofx"]
