"""Bank statements: OFX/CSV parsing, import with reconciliation on the real database, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.bank import Statement, StatementError, read_statements
from memory import Finance, InvalidRecord, MemoryService, NewTransaction, RejectedRow, StatementItem
from memory._finance import BATCH
from tests.conftest import BERLIN

DATA = Path(__file__).parent / "data"
TODAY = date(2026, 11, 25)  # the statements in data/ end here


@pytest.fixture(autouse=True)
def _today(clock_at: Callable[[datetime], None]) -> None:
    """The clock says TODAY (noon in the operator's zone), so what the code checks agrees with the data."""
    clock_at(datetime.combine(TODAY, time(12), BERLIN))


def only(path: Path, **options: object) -> Statement:
    statements = read_statements(path, today=TODAY, **options)  # type: ignore[arg-type]
    assert len(statements) == 1
    return statements[0]


def write(tmp_path: Path, text: str, name: str = "statement.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# -- parsing ---------------------------------------------------------------------------------------


def test_ofx_v1_sgml_statement_becomes_canonical_transactions() -> None:
    statement = only(DATA / "checking_v1.ofx")
    items = list(statement.items)
    assert statement.kind == "ofx" and statement.account == "DE89370400440532013000"
    assert all(isinstance(i, NewTransaction) for i in items)
    first = items[0]
    assert first == NewTransaction(
        "2026112400017", date(2026, 11, 24), Decimal("1200.00"), "EUR", "ACME GMBH", "Rechnung INV-2026-0142"
    )  # 23:00 EST on the 24th stays the 24th (the bank's date), though it is the 25th in UTC
    assert [i.amount for i in items if isinstance(i, NewTransaction)] == [
        Decimal("1200.00"),
        Decimal("300.00"),
        Decimal("-4.20"),
        Decimal("75.00"),
    ]


def test_ofx_v2_credit_card_statement_keeps_per_transaction_currency() -> None:
    statement = only(DATA / "card_v2.ofx")
    items = [i for i in statement.items if isinstance(i, NewTransaction)]
    assert statement.account == "4111111111111111"
    assert [(i.external_id, i.currency, i.amount) for i in items] == [
        ("US-20261120-1", "USD", Decimal("2500.00")),
        ("US-20261119-4", "USD", Decimal("-59.99")),
        ("US-20261118-2", "CAD", Decimal("120.50")),
    ]
    assert items[1].counterparty == "SOFTWARE SUBSCRIPTION" and items[1].memo == ""


def test_ofx_rows_that_fail_are_rejected_with_their_line(tmp_path: Path) -> None:
    text = (DATA / "checking_v1.ofx").read_text()
    text = text.replace("<TRNAMT>300.00", "<TRNAMT>3OO.00").replace("<DTPOSTED>20261121", "<DTPOSTED>20361121")
    statement = only(write(tmp_path, text, "bad.ofx"))
    items = list(statement.items)
    rejected = [i for i in items if isinstance(i, RejectedRow)]
    assert [(r.line, r.problem) for r in rejected] == [
        (51, "amount TRNAMT '3OO.00' is not a number"),
        (67, "date 2036-11-21 is more than 7 days in the future"),
    ]
    assert text.splitlines()[51 - 1] == "<STMTTRN>" and "3OO.00" in rejected[0].raw
    assert sum(isinstance(i, NewTransaction) for i in items) == 2


def test_european_csv_with_preamble_semicolons_and_cp1252(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Kontoinhaber;Erika Mustermann\n"
        "IBAN;DE89 3704 0044 0532 0130 00\n"
        "\n"
        "Buchungstag;Wertstellung;Auftraggeber/Empfänger;Verwendungszweck;Betrag (EUR)\n"
        "24.11.2026;24.11.2026;Acme GmbH;Rechnung INV-2026-0142;1.200,00\n"
        "23.11.2026;23.11.2026;Bäckerei Müller;Kartenzahlung;-3,50\n"
        "02.11.2026;02.11.2026;Finanzamt;Umsatzsteuer Q3;-1.234,56\n",
        encoding="cp1252",
    )
    items = list(only(path).items)
    assert [(i.posted_at, i.amount, i.currency, i.counterparty) for i in items if isinstance(i, NewTransaction)] == [
        (date(2026, 11, 24), Decimal("1200.00"), "EUR", "Acme GmbH"),
        (date(2026, 11, 23), Decimal("-3.50"), "EUR", "Bäckerei Müller"),
        (date(2026, 11, 2), Decimal("-1234.56"), "EUR", "Finanzamt"),
    ]


def test_us_csv_with_debit_credit_columns_and_month_first_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Transaction Date,Description,Debit,Credit,Currency\n"
        '11/20/2026,"INITECH INC, ACH US-77",,"2,500.00",USD\n'
        "11/03/2026,Coffee,4.75,,USD\n"
        '11/02/2026,Rent,"1,800.00",,USD\n',
    )
    items = list(only(path).items)
    assert [(i.posted_at, i.amount) for i in items if isinstance(i, NewTransaction)] == [
        (date(2026, 11, 20), Decimal("2500.00")),  # 20 cannot be a month: the file is month-first
        (date(2026, 11, 3), Decimal("-4.75")),
        (date(2026, 11, 2), Decimal("-1800.00")),
    ]


def test_slash_dates_are_day_first_unless_the_file_proves_otherwise(tmp_path: Path) -> None:
    uk = write(tmp_path, "Date,Description,Amount,Currency\n24/11/2026,Tesco,-12.00,GBP\n03/11/2026,Rent,-900.00,GBP\n")
    assert [i.posted_at for i in only(uk).items if isinstance(i, NewTransaction)] == [
        date(2026, 11, 24),
        date(2026, 11, 3),  # ambiguous on its own; the file is day-first
    ]
    ambiguous = write(tmp_path, "Date,Description,Amount,Currency\n03/11/2026,Rent,-900.00,USD\n", "a.csv")
    assert [i.posted_at for i in only(ambiguous).items if isinstance(i, NewTransaction)] == [date(2026, 11, 3)]
    told = [i.posted_at for i in only(ambiguous, date_order="mdy").items if isinstance(i, NewTransaction)]
    assert told == [date(2026, 3, 11)]
    tie = write(tmp_path, "Date,Description,Amount,Currency\n24/11/2026,A,-1.00,EUR\n11/23/2026,B,-1.00,EUR\n", "t.csv")
    with pytest.raises(StatementError, match="say which order the file uses"):
        read_statements(tie, today=TODAY)


def test_comma_decimal_file_quarantines_three_decimals_instead_of_multiplying(tmp_path: Path) -> None:
    path = write(tmp_path, "Datum;Name;Betrag;Währung\n24.11.2026;Acme;1.200,00;EUR\n24.11.2026;Typo;12,345;EUR\n")
    items = list(only(path).items)
    assert isinstance(items[0], NewTransaction) and items[0].amount == Decimal("1200.00")
    assert items[1] == RejectedRow(3, "24.11.2026;Typo;12,345;EUR", "amount 12.345 has more than 2 decimals")


def test_csv_ids_are_stable_and_identical_rows_stay_distinct(tmp_path: Path) -> None:
    text = "Date,Payee,Amount,Currency\n2026-11-24,Coffee,-3.50,EUR\n2026-11-24,Coffee,-3.50,EUR\n"
    first = [i.external_id for i in only(write(tmp_path, text)).items if isinstance(i, NewTransaction)]
    again = [i.external_id for i in only(write(tmp_path, text, "again.csv")).items if isinstance(i, NewTransaction)]
    assert len(set(first)) == 2 and first == again


def test_csv_garbage_rows_are_rejected_with_line_numbers_and_reasons(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Date,Payee,Memo,Amount,Currency\n"
        "2026-11-24,Acme,INV-1,100.00,EUR\n"
        "yesterday,Acme,INV-2,100.00,EUR\n"
        "2026-11-24,Acme,INV-3,1.2.3,EUR\n"
        "2026-11-24,,,50.00,EUR\n"
        "2026-11-24,Acme,INV-4,50.00,XYZ\n"
        "1989-12-31,Acme,INV-5,50.00,EUR\n"
        "2026-11-24,Acme\n"
        '2026-11-24,"multi\nline",INV-6,0.00,EUR\n'
        "2026-11-23,Beta,INV-7,20.00,EUR\n",
    )
    items = list(only(path).items)
    rejected = {r.line: r.problem for r in items if isinstance(r, RejectedRow)}
    assert rejected == {
        3: "date 'yesterday' is not a date (expected YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY)",
        4: "amount '1.2.3' has more than one decimal mark",
        5: "no counterparty and no memo: nothing says what this transaction is",
        6: "currency 'XYZ' is not an ISO 4217 code such as EUR or USD",
        7: "date 1989-12-31 is before 1990",
        8: "has 2 fields where the header has 5",
        9: "amount is zero: not a money movement",
    }
    assert [i.memo for i in items if isinstance(i, NewTransaction)] == ["INV-1", "INV-7"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty; expected an OFX/QFX or CSV bank statement"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data, not text"),
        (b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive or Excel workbook; export the statement as CSV or OFX"),
        (b"%PDF-1.7\n", "a PDF; download the statement as CSV or OFX"),
        (b"Dear customer,\nyour statement is attached.\n", "no header row with a date and an amount column"),
        (b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BROKEN", "not a readable OFX/QFX statement"),
        (b"Date,Amount,Payee\n2026-11-24,10.00,Acme\n", "no currency column"),
    ],
)
def test_files_that_are_not_statements_get_a_clear_error(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "upload.dat"
    path.write_bytes(content)
    with pytest.raises(StatementError) as caught:
        read_statements(path, today=TODAY)
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)


def test_a_csv_without_currency_column_takes_the_given_currency(tmp_path: Path) -> None:
    path = write(tmp_path, "Date,Amount,Payee\n2026-11-24,10.00,Acme\n2026-11-24,£5.00,Tea Shop\n")
    items = [i for i in only(path, currency="eur").items if isinstance(i, NewTransaction)]
    assert [(i.amount, i.currency) for i in items] == [(Decimal("10.00"), "EUR"), (Decimal("5.00"), "GBP")]


# -- import and reconciliation ---------------------------------------------------------------------


async def _invoices(finance: Finance, workspace: str) -> None:
    issued = date(2026, 10, 1)
    for number, client, amount, due in [
        ("INV-2026-0150", "Acme GmbH", "1200.00", date(2026, 10, 31)),  # same client and amount, older
        ("INV-2026-0142", "Acme GmbH", "1200.00", date(2026, 11, 30)),
        ("GLX-7", "Globex Ltd", "1000.00", date(2026, 11, 15)),
    ]:
        await finance.add_invoice(
            workspace,
            number=number,
            client=client,
            amount=Decimal(amount),
            currency="EUR",
            due_at=due,
            issued_at=issued,
        )


async def _status(finance: Finance, workspace: str) -> dict[str, tuple[str, Decimal]]:
    return {i.number: (i.status, i.paid_amount) for i in await finance.list_invoices(workspace)}


async def test_import_reconciles_and_a_reimport_changes_nothing(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    await _invoices(finance, workspace)
    statement = only(DATA / "checking_v1.ofx")
    summary = await finance.import_transactions(workspace, statement.account or "", statement.items, statement.source)
    assert (summary.imported, summary.matched, summary.partial, summary.unmatched, summary.outgoing) == (4, 1, 1, 1, 1)
    assert summary.duplicates == 0 and summary.quarantined == 0
    # the number in the memo wins over the older invoice of the same client and amount
    assert await _status(finance, workspace) == {
        "INV-2026-0150": ("open", Decimal("0.00")),
        "INV-2026-0142": ("paid", Decimal("1200.00")),
        "GLX-7": ("partial", Decimal("300.00")),
    }
    payments = await finance.payments_received(workspace, date(2026, 11, 1), TODAY)
    assert [(p.posted_at.day, p.match_status, p.invoice_number, p.payer) for p in payments] == [
        (21, "unmatched", None, "J DOE"),
        (23, "partial", "GLX-7", "Globex Ltd"),
        (24, "matched", "INV-2026-0142", "Acme GmbH"),
    ]

    again = only(DATA / "checking_v1.ofx")
    repeat = await finance.import_transactions(workspace, again.account or "", again.items, again.source)
    assert (repeat.imported, repeat.duplicates, repeat.matched, repeat.partial) == (0, 4, 0, 0)
    assert (await _status(finance, workspace))["GLX-7"] == ("partial", Decimal("300.00"))  # not paid twice


async def test_partial_payments_accumulate_until_the_invoice_is_paid(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    await _invoices(finance, workspace)
    for n, amount in enumerate(["300.00", "200.00", "500.00"]):
        record = NewTransaction(f"p{n}", date(2026, 11, 20 + n), Decimal(amount), "EUR", "GLOBEX LTD", "GLX-7")
        summary = await finance.import_transactions(workspace, "main", [record], "test")
        assert (summary.matched, summary.partial) == ((1, 0) if n == 2 else (0, 1))
    assert (await _status(finance, workspace))["GLX-7"] == ("paid", Decimal("1000.00"))


async def test_payments_that_do_not_fit_stay_unmatched(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    await _invoices(finance, workspace)
    records = [
        NewTransaction("over", date(2026, 11, 20), Decimal("1500.00"), "EUR", "Globex Ltd", "GLX-7"),  # overpaid
        NewTransaction("usd", date(2026, 11, 20), Decimal("1200.00"), "USD", "Acme GmbH", "INV-2026-0142"),
        NewTransaction("glued", date(2026, 11, 20), Decimal("1200.00"), "EUR", "Someone", "INV-2026-01420"),
        NewTransaction("stranger", date(2026, 11, 20), Decimal("1000.00"), "EUR", "Initech", "services"),
    ]
    summary = await finance.import_transactions(workspace, "main", records, "test")
    assert (summary.imported, summary.unmatched, summary.matched, summary.partial) == (4, 4, 0, 0)
    assert {status for status, _ in (await _status(finance, workspace)).values()} == {"open"}


async def test_by_client_name_an_exact_outstanding_amount_wins(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    await _invoices(finance, workspace)
    await finance.add_invoice(
        workspace, number="GLX-9", client="Globex Ltd", amount=Decimal("450"), currency="EUR", due_at=date(2026, 12, 1)
    )
    record = NewTransaction("x", date(2026, 11, 24), Decimal("450.00"), "EUR", "GLOBEX", "November")
    summary = await finance.import_transactions(workspace, "main", [record], "test")
    assert summary.matched == 1
    status = await _status(finance, workspace)
    assert status["GLX-9"] == ("paid", Decimal("450.00")) and status["GLX-7"] == ("open", Decimal("0.00"))


async def test_a_statement_with_garbage_imports_good_rows_and_quarantines_the_rest(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    """Decision: bad rows do not block a statement. In one transaction the good rows are imported
    and each bad row is quarantined whole, with its line and reason; no row is ever half-written."""
    path = write(
        tmp_path,
        "Date,Payee,Memo,Amount,Currency\n"
        "2026-11-24,Acme GmbH,INV-2026-0142,1200.00,EUR\n"
        "2026-11-24,Acme GmbH,INV-2026-0150,12OO.00,EUR\n"
        "not a row\n"
        "2026-11-23,Kiosk,,-2.00,EUR\n",
    )
    await _invoices(memory.finance, workspace)
    statement = only(path)
    summary = await memory.finance.import_transactions(workspace, "main", statement.items, statement.source)
    assert (summary.imported, summary.matched, summary.outgoing, summary.quarantined) == (2, 1, 1, 2)
    assert [(p.line, p.message) for p in summary.problems] == [
        (3, "amount '12OO.00' is not a number"),
        (4, "has 1 fields where the header has 5"),
    ]
    stored = await memory.finance.quarantine(workspace)
    assert [(q.source, q.line, q.raw) for q in stored] == [
        ("statement.csv", 3, "2026-11-24,Acme GmbH,INV-2026-0150,12OO.00,EUR"),
        ("statement.csv", 4, "not a row"),
    ]
    assert (await _status(memory.finance, workspace))["INV-2026-0150"] == ("open", Decimal("0.00"))


async def test_an_import_that_fails_midway_writes_nothing(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    await _invoices(finance, workspace)

    def statement(broken: StatementItem) -> Iterator[StatementItem]:
        yield NewTransaction("pay", date(2026, 11, 24), Decimal("1200.00"), "EUR", "Acme", "INV-2026-0142")
        yield RejectedRow(2, "garbage", "not a date")
        for n in range(BATCH + 5):  # past the first batch, which is already copied into the table
            yield NewTransaction(f"t{n}", date(2026, 11, 20), Decimal("-1.00"), "EUR", "Kiosk", "")
        yield broken

    with pytest.raises(InvalidRecord, match="more than 2 decimals"):
        bad = NewTransaction("bad", date(2026, 11, 20), Decimal("1.005"), "EUR", "Kiosk", "")
        await finance.import_transactions(workspace, "main", statement(bad), "test")

    def crashing() -> Iterator[StatementItem]:
        yield from list(statement(RejectedRow(9, "x", "y")))[:-1]
        raise OSError("disk went away while reading the statement")

    with pytest.raises(OSError, match="disk went away"):
        await finance.import_transactions(workspace, "main", crashing(), "test")

    assert await finance.payments_received(workspace, date(2026, 1, 1), TODAY) == []
    assert await finance.quarantine(workspace) == []
    assert (await _status(finance, workspace))["INV-2026-0142"] == ("open", Decimal("0.00"))
    ok = await finance.import_transactions(workspace, "main", statement(RejectedRow(9, "x", "y")), "test")
    assert (ok.imported, ok.matched, ok.quarantined) == (BATCH + 6, 1, 2)


async def test_invoices_are_validated_and_overdue_ones_listed(memory: MemoryService, workspace: str) -> None:
    finance = memory.finance
    await memory.records.upsert_contact("Acme GmbH", workspace=workspace, email="ap@acme.example")
    await _invoices(finance, workspace)
    with pytest.raises(InvalidRecord, match="already exists"):
        await finance.add_invoice(
            workspace, number="GLX-7", client="X", amount=Decimal(1), currency="EUR", due_at=TODAY, issued_at=TODAY
        )
    with pytest.raises(InvalidRecord, match="before it is issued"):
        await finance.add_invoice(
            workspace,
            number="N1",
            client="X",
            amount=Decimal(1),
            currency="EUR",
            due_at=TODAY,
            issued_at=date(2027, 1, 1),
        )
    with pytest.raises(InvalidRecord, match="more than 2 decimals"):
        await finance.add_invoice(
            workspace, number="N2", client="X", amount=Decimal("1.001"), currency="EUR", due_at=TODAY
        )
    with pytest.raises(InvalidRecord, match="three-letter code"):
        await finance.add_invoice(workspace, number="N3", client="X", amount=Decimal(1), currency="euro", due_at=TODAY)

    overdue = await finance.overdue_invoices(workspace, TODAY)
    assert [(i.number, i.days_overdue(TODAY)) for i in overdue] == [("INV-2026-0150", 25), ("GLX-7", 10)]
    acme = [i for i in await finance.list_invoices(workspace) if i.client == "Acme GmbH"]
    assert all(i.contact_id is not None for i in acme)  # linked to the contact of the same name
    assert await finance.list_invoices(workspace, "paid") == []
    with pytest.raises(InvalidRecord, match="unknown invoice status"):
        await finance.list_invoices(workspace, "late")  # type: ignore[arg-type]


# -- the command line ------------------------------------------------------------------------------


def test_cli_imports_a_statement_and_lists_invoices(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    today = date.today()
    due = (today - timedelta(days=10)).isoformat()
    code, out, _ = run(
        "invoice",
        "add",
        "--number",
        "INV-9",
        "--client",
        "Hooli",
        "--amount",
        "1.500,00",
        "--currency",
        "eur",
        "--due",
        due,
        "--issued",
        (today - timedelta(days=40)).isoformat(),
        "--json",
    )
    assert code == 0 and json.loads(out)["amount"] == "1500.00"
    code, _, err = run(
        "invoice",
        "add",
        "--number",
        "INV-9",
        "--client",
        "Hooli",
        "--amount",
        "5",
        "--currency",
        "EUR",
        "--due",
        due,
        "--issued",
        due,
    )
    assert code == 2 and "invoice INV-9 already exists" in err

    code, out, _ = run("invoice", "list", "--overdue", "--json")
    assert [(i["number"], i["days_overdue"]) for i in json.loads(out)] == [("INV-9", 10)]

    day = today.strftime("%d.%m.%Y")
    path = write(
        tmp_path,
        f"Datum;Name;Verwendungszweck;Betrag\n{day};HOOLI INC;Inv 9;500,00\n{day};Kiosk;;-2,50\n{day};Kiosk;;abc\n",
    )
    code, out, err = run("bank", "import", str(path), "--currency", "EUR")
    assert code == 1  # some rows were quarantined
    assert "imported 2 transactions (0 matched, 1 partial, 0 unmatched, 1 outgoing)" in out
    assert "0 duplicates skipped, 1 quarantined" in out and "line 4: amount 'abc' is not a number" in err

    code, out, _ = run("bank", "import", str(path), "--currency", "EUR", "--json")
    result = json.loads(out)
    assert (result["imported"], result["duplicates"], result["quarantined"]) == (0, 2, 1)
    assert result["accounts"][0]["account"] == "main"

    code, out, _ = run("invoice", "list")
    assert code == 0 and "INV-9  Hooli  EUR 1,500.00" in out and "partial (EUR 1,000.00 outstanding)" in out

    code, _, err = run("bank", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv: cannot read the file" in err
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    code, _, err = run("bank", "import", str(tmp_path / "photo.png"))
    assert code == 2 and "binary data, not text; expected an OFX/QFX or CSV bank statement" in err
