"""Property tests for statement parsing, validation and reconciliation: any input, a clear answer."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.bank import StatementError, parse_amount, parse_date, read_statements
from connectors.checks import (
    EARLIEST_DATE,
    ISO_CURRENCIES,
    InvalidValue,
    check_amount,
    check_currency,
    check_posted_date,
    transaction_problems,
)
from memory import NewTransaction, RejectedRow
from memory._reconciliation import OpenInvoice, Reconciler

TODAY = date(2026, 11, 25)
cents = st.integers(min_value=-(10**13) + 1, max_value=10**13 - 1).map(lambda n: Decimal(n).scaleb(-2))


def _grouped(whole: int, separator: str) -> str:
    return f"{whole:,}".replace(",", separator)


def us(amount: Decimal) -> str:  # -1,234.56
    sign, whole, frac = ("-" if amount < 0 else ""), int(abs(amount)), f"{abs(amount) % 1:.2f}"[2:]
    return f"{sign}{_grouped(whole, ',')}.{frac}"


def european(amount: Decimal) -> str:  # 1.234,56- is also seen; the leading sign is the usual one
    sign, whole, frac = ("-" if amount < 0 else ""), int(abs(amount)), f"{abs(amount) % 1:.2f}"[2:]
    return f"{sign}{_grouped(whole, '.')}," + frac


def swiss(amount: Decimal) -> str:  # 1'234.56
    return us(amount).replace(",", "'")


def french(amount: Decimal) -> str:  # 1 234,56 with a no-break space
    return european(amount).replace(".", "\u00a0")


def plain(amount: Decimal) -> str:  # -1234.56
    return f"{amount:.2f}"


def accounting(amount: Decimal) -> str:  # (1,234.56) for money out
    return f"({us(-amount)})" if amount < 0 else us(amount)


@given(st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_parse_amount_never_crashes_on_any_text(text: str) -> None:
    try:
        amount, currency = parse_amount(text)
    except InvalidValue as err:
        assert str(err)
        return
    assert amount.is_finite()
    assert currency is None or currency in ISO_CURRENCIES


@given(cents, st.sampled_from([us, european, swiss, french, plain, accounting]))
@settings(max_examples=500, deadline=None)
def test_amounts_round_trip_through_every_written_style(amount: Decimal, style: object) -> None:
    written = style(amount)  # type: ignore[operator]
    assert parse_amount(written) == (amount, None), written
    assert parse_amount(f"{written} EUR") == (amount, "EUR")


@given(cents, st.sampled_from([us, european, french]))
@settings(max_examples=200, deadline=None)
def test_a_files_decimal_mark_reads_its_own_style(amount: Decimal, style: object) -> None:
    written = style(amount)  # type: ignore[operator]
    mark = "." if style is us else ","
    assert parse_amount(written, mark)[0] == amount


@given(st.text(max_size=40), st.sampled_from(["dmy", "mdy"]))
@settings(max_examples=500, deadline=None)
def test_parse_date_never_crashes_on_any_text(text: str, order: str) -> None:
    try:
        parsed = parse_date(text, order)  # type: ignore[arg-type]
    except InvalidValue as err:
        assert str(err)
        return
    assert isinstance(parsed, date)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2068, 12, 31)))
@settings(max_examples=300, deadline=None)
def test_dates_round_trip_through_every_written_style(day: date) -> None:
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d/%m/%y", "%d %b %Y", "%Y%m%d", "%Y-%m-%dT10:30:00"):
        assert parse_date(day.strftime(pattern), "dmy") == day, pattern
    for pattern in ("%m/%d/%Y", "%m-%d-%y", "%d.%m.%Y", "%B %d, %Y"):
        assert parse_date(day.strftime(pattern), "mdy") == day, pattern


@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), Decimal("1E+30"), Decimal("0E-7")]),
    )
)
@settings(max_examples=500, deadline=None)
def test_check_amount_accepts_exactly_finite_nonzero_cents(value: Decimal) -> None:
    valid = (
        value.is_finite() and value != 0 and abs(value) < Decimal("1e12") and value == value.quantize(Decimal("0.01"))
    )
    try:
        checked = check_amount(value)
    except InvalidValue:
        assert not valid
        return
    assert valid and checked == value and checked.as_tuple().exponent == -2


@given(st.text(max_size=8))
@settings(max_examples=300, deadline=None)
def test_check_currency_accepts_only_iso_codes(text: str) -> None:
    try:
        code = check_currency(text)
    except InvalidValue:
        assert text.strip().upper() not in ISO_CURRENCIES
        return
    assert code in ISO_CURRENCIES and code == text.strip().upper()


@given(st.dates())
def test_check_posted_date_window(day: date) -> None:
    plausible = EARLIEST_DATE <= day <= TODAY + timedelta(days=7)
    try:
        assert check_posted_date(day, TODAY) == day and plausible
    except InvalidValue:
        assert not plausible


@given(
    st.builds(
        NewTransaction,
        external_id=st.text(max_size=10),
        posted_at=st.dates(),
        amount=st.decimals(allow_nan=True, allow_infinity=True),
        currency=st.text(max_size=4),
        counterparty=st.text(max_size=20),
        memo=st.text(max_size=20),
    )
)
@settings(max_examples=300, deadline=None)
def test_transaction_problems_never_crash(record: NewTransaction) -> None:
    problems = transaction_problems(record, TODAY)
    assert all(isinstance(p, str) and p for p in problems)


cell = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
    st.sampled_from(["2026-11-24", "24.11.2026", "11/24/2026", "1.234,56", "-3,50", "1,234.56", "EUR", "", "abc"]),
)


@given(st.lists(st.lists(cell, min_size=0, max_size=6), max_size=12), st.sampled_from([",", ";"]))
@settings(max_examples=150, deadline=None)
def test_any_csv_body_under_a_valid_header_reads_into_transactions_or_rejections(
    rows: list[list[str]], delimiter: str
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["Date", "Payee", "Amount", "Currency"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        try:
            statements = read_statements(path, today=TODAY)
        except StatementError as err:  # e.g. a tie between day-first and month-first dates
            assert str(err).startswith(str(path))
            return
        items = list(statements[0].items)
    for item in items:
        if isinstance(item, NewTransaction):
            assert transaction_problems(item, TODAY) == [] and item.external_id.startswith("csv:")
        else:
            assert isinstance(item, RejectedRow) and item.problem and item.line >= 2
    ids = [i.external_id for i in items if isinstance(i, NewTransaction)]
    assert len(ids) == len(set(ids))


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_bytes_give_statements_or_a_clear_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.bin"
        path.write_bytes(data)
        try:
            for statement in read_statements(path, today=TODAY, currency="EUR"):
                list(statement.items)
        except StatementError as err:
            assert str(err).startswith(str(path))


amounts = st.integers(min_value=1, max_value=500_00).map(lambda n: Decimal(n).scaleb(-2))


@given(
    st.lists(st.tuples(st.sampled_from(["Acme GmbH", "Globex Ltd", "Initech"]), amounts), min_size=1, max_size=6),
    st.lists(
        st.tuples(st.sampled_from(["ACME", "globex", "Initech Inc", "stranger"]), st.integers(0, 5), amounts),
        max_size=30,
    ),
)
@settings(max_examples=300, deadline=None)
def test_reconciliation_never_overpays_and_accounts_for_every_cent(
    invoices: list[tuple[str, Decimal]], payments: list[tuple[str, int, Decimal]]
) -> None:
    open_invoices = [
        OpenInvoice(n, f"INV-{n:03d}", client, "EUR", amount, Decimal(0), date(2026, 11, n + 1))
        for n, (client, amount) in enumerate(invoices)
    ]
    reconciler = Reconciler(open_invoices)
    applied = Decimal(0)
    for payer, which, amount in payments:
        text = f"{payer} INV-{which:03d}" if which < len(invoices) else payer
        match = reconciler.match(amount, "EUR", text)
        if match.invoice is not None:
            applied += amount
            assert match.status == ("matched" if match.invoice.outstanding == 0 else "partial")
        else:
            assert match.status == "unmatched"
    changed = {id(i) for i in reconciler.changed}
    for invoice in open_invoices:
        assert 0 <= invoice.paid_amount <= invoice.amount
        if invoice.paid_amount == 0:
            assert invoice.status == "open" and id(invoice) not in changed
        else:
            assert invoice.status == ("paid" if invoice.paid_amount == invoice.amount else "partial")
            assert id(invoice) in changed
    assert sum(i.paid_amount for i in open_invoices) == applied
