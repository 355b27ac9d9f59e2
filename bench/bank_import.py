"""Bank statement import with reconciliation: a 10,000-transaction OFX and CSV against 1,000 invoices.

    .venv/bin/python -m bench.bank_import [--transactions 10000] [--invoices 1000]

Generates (seed 7) 1,000 open invoices for 200 clients and a statement that pays most of them:
in full naming the invoice number, in three instalments, or naming only the client; plus money
from strangers and money out (``make_transactions`` has the shares). The same transactions are
written as OFX 1.x (SGML) and as a European CSV (``;``, ``1.234,56``, ``dd.mm.yyyy``). Each is
imported into a fresh workspace the way ``soloos bank import`` does it — parse, validate, check
duplicates, reconcile, COPY, one database transaction — and then imported again (every row a
duplicate).

Time is wall clock for parse + import. Memory is measured in a second, separate run with
``tracemalloc`` (the peak of Python allocations during parse + import; tracing slows the run, so
it is not timed), and the process's peak RSS (``ru_maxrss``, interpreter and libraries included)
is printed at the end. The database is the embedded PostgreSQL on the same machine; no model is
loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import shutil
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bot.app import quiet_libraries
from connectors.bank import read_statements
from memory import Clock, Finance, ImportSummary
from memory._postgres import open_database

CLIENTS = [f"{word} {suffix}" for word in ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne",
           "Wonka", "Soylent", "Tyrell") for suffix in ("GmbH", "Ltd", "Inc", "Studio", "Labs", "AG", "LLC",
           "Partners", "Group", "Media", "Foods", "Legal", "Clinic", "Yoga", "Coffee", "Bikes", "Books", "Games",
           "Travel", "Design")]  # fmt: skip
OUT_PAYEES = ["Kaffee Bar", "Deutsche Bahn", "Hetzner Online", "Adobe Systems", "Finanzamt", "REWE", "Lufthansa"]


def make_invoices(count: int, today: date, rng: random.Random) -> list[tuple[str, str, Decimal, date]]:
    return [
        (
            f"INV-2026-{n:05d}",
            CLIENTS[n % len(CLIENTS)],
            Decimal(rng.randrange(100_00, 5_000_00)).scaleb(-2),
            today - timedelta(days=rng.randrange(0, 90)),
        )
        for n in range(count)
    ]


def make_transactions(
    count: int, invoices: list[tuple[str, str, Decimal, date]], today: date, rng: random.Random
) -> list[tuple[str, date, Decimal, str, str]]:
    """(fitid, posted, amount, payee, memo). Of the invoices, 60 % are paid in full naming their
    number, 15 % in three instalments, 10 % naming only the client; 5 % of rows are strangers'
    money, the rest is money out. Rows are shuffled, as a statement mixes them."""
    order = rng.sample(invoices, len(invoices))
    full, instalments, by_name = (round(len(order) * share) for share in (0.60, 0.15, 0.10))
    money_in: list[tuple[Decimal, str, str]] = []
    for number, client, amount, _ in order[:full]:
        money_in.append((amount, client.upper(), f"Rechnung {number}"))
    for number, client, amount, _ in order[full : full + instalments]:
        third = (amount / 3).quantize(Decimal("0.01"))
        for part in (third, third, amount - 2 * third):
            money_in.append((part, client, f"Teilzahlung {number.replace('-', ' ')}"))
    for _, client, amount, _ in order[full + instalments : full + instalments + by_name]:
        money_in.append((amount, client, "Zahlung"))
    strangers = count // 20
    money_in += [
        (Decimal(rng.randrange(1_00, 900_00)).scaleb(-2), f"Private Person {n}", "Danke") for n in range(strangers)
    ]
    money_out = [
        (-Decimal(rng.randrange(1_00, 2_000_00)).scaleb(-2), rng.choice(OUT_PAYEES), f"Karte {n}")
        for n in range(max(0, count - len(money_in)))
    ]
    lines = (money_in + money_out)[:count]
    rng.shuffle(lines)
    rows = []
    for n, line in enumerate(lines):
        posted = today - timedelta(days=rng.randrange(0, 60))
        rows.append((f"{posted:%Y%m%d}{n:06d}", posted, *line))
    return rows


def write_ofx(path: Path, rows: list[tuple[str, date, Decimal, str, str]], today: date) -> None:
    header = (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
        "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX>\n<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0\n"
        f"<SEVERITY>INFO\n</STATUS><DTSERVER>{today:%Y%m%d}\n<LANGUAGE>ENG\n</SONRS></SIGNONMSGSRSV1>\n"
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1\n<STATUS><CODE>0\n<SEVERITY>INFO\n</STATUS>\n<STMTRS><CURDEF>EUR\n"
        "<BANKACCTFROM><BANKID>10010010\n<ACCTID>DE89370400440532013000\n<ACCTTYPE>CHECKING\n</BANKACCTFROM>\n"
        f"<BANKTRANLIST><DTSTART>{today - timedelta(days=60):%Y%m%d}\n<DTEND>{today:%Y%m%d}\n"
    )
    with path.open("w", encoding="ascii", errors="replace") as out:
        out.write(header)
        for fitid, posted, amount, payee, memo in rows:
            kind = "CREDIT" if amount > 0 else "DEBIT"
            out.write(
                f"<STMTTRN>\n<TRNTYPE>{kind}\n<DTPOSTED>{posted:%Y%m%d}\n<TRNAMT>{amount}\n<FITID>{fitid}\n"
                f"<NAME>{payee[:32]}\n<MEMO>{memo}\n</STMTTRN>\n"
            )
        out.write("</BANKTRANLIST>\n<LEDGERBAL><BALAMT>0.00\n<DTASOF>20261125\n</LEDGERBAL>\n")
        out.write("</STMTRS></STMTTRNRS></BANKMSGSRSV1>\n</OFX>\n")


def write_csv(path: Path, rows: list[tuple[str, date, Decimal, str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("Buchungstag;Auftraggeber/Empfänger;Verwendungszweck;Betrag;Währung\n")
        for _, posted, amount, payee, memo in rows:
            text = f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
            out.write(f"{posted:%d.%m.%Y};{payee};{memo};{text};EUR\n")


async def add_invoices(finance: Finance, workspace: str, invoices: list[tuple[str, str, Decimal, date]]) -> None:
    for number, client, amount, due in invoices:
        await finance.add_invoice(
            workspace,
            number=number,
            client=client,
            amount=amount,
            currency="EUR",
            due_at=due,
            issued_at=due - timedelta(days=30),
        )


async def import_file(finance: Finance, workspace: str, path: Path, today: date) -> ImportSummary:
    total = ImportSummary()
    for statement in read_statements(path, today=today):
        total += await finance.import_transactions(workspace, "main", statement.items, statement.source)
    return total


async def main(transactions: int, invoice_count: int) -> None:
    quiet_libraries()
    rng = random.Random(7)
    today = date.today()
    invoices = make_invoices(invoice_count, today, rng)
    rows = make_transactions(transactions, invoices, today, rng)
    home = Path(tempfile.mkdtemp(prefix="soloos-bench-bank-"))
    try:
        files = {"OFX": home / "statement.ofx", "CSV": home / "statement.csv"}
        write_ofx(files["OFX"], rows, today)
        write_csv(files["CSV"], rows)
        with open_database(database_url=os.environ.get("DATABASE_URL"), home=home) as db:
            finance = Finance(db, Clock())
            for kind, path in files.items():
                workspace = f"bench-{kind.lower()}"
                await add_invoices(finance, workspace, invoices)
                began = time.perf_counter()
                summary = await import_file(finance, workspace, path, today)
                seconds = time.perf_counter() - began
                began = time.perf_counter()
                again = await import_file(finance, workspace, path, today)
                repeat = time.perf_counter() - began

                await add_invoices(finance, f"{workspace}-traced", invoices)
                tracemalloc.start()
                await import_file(finance, f"{workspace}-traced", path, today)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()

                print(
                    f"{kind}: {path.stat().st_size / 2**20:.1f} MiB, {summary.imported:,} imported in {seconds:.2f} s "
                    f"({summary.imported / seconds:,.0f}/s) | {summary.matched} matched, {summary.partial} partial, "
                    f"{summary.unmatched} unmatched, {summary.outgoing} outgoing, {summary.quarantined} quarantined | "
                    f"re-import {again.duplicates:,} duplicates in {repeat:.2f} s | "
                    f"Python peak {peak / 2**20:.1f} MiB",
                    flush=True,
                )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"process peak RSS (ru_maxrss, interpreter + libraries, whole run): {rss:.0f} MiB")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=1_000)
    args = parser.parse_args()
    print(f"conditions: {os.cpu_count()} cores, Python {platform.python_version()}, embedded PostgreSQL 18,")
    print(f"            {args.transactions:,} transactions per statement, {args.invoices:,} open invoices, seed 7")
    asyncio.run(main(args.transactions, args.invoices))
