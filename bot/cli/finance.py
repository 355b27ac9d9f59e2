"""``soloos bank …`` and ``soloos invoice …``: statement import with reconciliation, and invoices.

Registered on the main app in ``bot.cli``; settings, memory and error handling come from
``bot.cli.common``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from bot.cli.common import JsonOpt, WorkspaceOpt, date_in_words, err, fail, out, settings_for, with_memory
from bot.settings import Settings
from connectors.bank import DateOrder, StatementError, parse_amount, parse_date, read_statements
from connectors.checks import InvalidValue, check_amount, check_currency
from memory import Clock, ImportSummary, Invoice, MemoryService

bank_app = typer.Typer(help="Bank statements: import and reconcile against invoices.", no_args_is_help=True)
invoice_app = typer.Typer(help="Invoices you sent: add and list them.", no_args_is_help=True)

SHOWN_PROBLEMS = 10


def _today(settings: Settings) -> date:
    return Clock().today(settings.timezone)


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


@bank_app.command("import")
def bank_import(
    file: Annotated[Path, typer.Argument(help="An OFX/QFX or CSV statement downloaded from the bank.")],
    account: Annotated[
        str | None, typer.Option(help="Account name (default: the account id in an OFX file, else 'main').")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="Currency of a CSV without a currency column.")] = None,
    date_order: Annotated[
        str | None, typer.Option("--date-order", help="dmy or mdy for 01/02/2026-style dates (default: detect).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a statement and match incoming money to open invoices (bad rows are quarantined)."""

    settings = settings_for(workspace)
    if date_order not in (None, "dmy", "mdy"):
        raise fail(f"--date-order must be dmy or mdy, not {date_order!r}")
    try:
        statements = read_statements(
            file, currency=currency, date_order=cast(DateOrder | None, date_order), today=_today(settings)
        )
    except StatementError as error:
        raise fail(str(error)) from error
    if account and len(statements) > 1:
        raise fail(f"{file} holds {len(statements)} account statements; leave out --account to import each")

    async def work(memory: MemoryService) -> list[tuple[str, ImportSummary]]:
        done = []
        for statement in statements:
            name = account or statement.account or "main"
            summary = await memory.finance.import_transactions(
                settings.workspace, name, statement.items, statement.source
            )
            done.append((name, summary))
        return done

    results = with_memory(settings, work)
    total = sum((summary for _, summary in results), ImportSummary())
    if as_json:
        data: dict[str, Any] = {"file": str(file), **total.to_json()}
        data["accounts"] = [{"account": name, **summary.to_json()} for name, summary in results]
        out.print_json(data=data)
    else:
        for name, s in results:
            out.print(
                f"{file.name} → account {name}: imported {s.imported} transactions "
                f"({s.matched} matched, {s.partial} partial, {s.unmatched} unmatched, {s.outgoing} outgoing), "
                f"{s.duplicates} duplicates skipped, {s.quarantined} quarantined",
                markup=False,
                highlight=False,
            )
        for problem in total.problems[:SHOWN_PROBLEMS]:
            err.print(f"  line {problem.line}: {problem.message}", markup=False, highlight=False)
        if total.quarantined > SHOWN_PROBLEMS:
            err.print(f"  … and {total.quarantined - SHOWN_PROBLEMS} more, kept in the quarantine", highlight=False)
    raise typer.Exit(1 if total.quarantined else 0)


def _day(value: str, option: str) -> date:

    try:
        return parse_date(value)
    except InvalidValue:
        parsed = date_in_words(value, option)  # words such as "in 30 days"; exits with a clear message otherwise
        assert parsed is not None
        return parsed.date()


def _invoice_line(invoice: Invoice, today: date) -> str:
    line = f"{invoice.number}  {invoice.client}  {money(invoice.amount, invoice.currency)}  due {invoice.due_at}  "
    line += invoice.status
    if invoice.status == "partial":
        line += f" ({money(invoice.outstanding, invoice.currency)} outstanding)"
    overdue = invoice.days_overdue(today)
    if overdue:
        line += f"  {overdue} days overdue"
    return line


@invoice_app.command("add")
def invoice_add(
    number: Annotated[str, typer.Option(help="Invoice number, e.g. INV-2026-0142.")],
    client: Annotated[str, typer.Option(help="Who pays it (as it appears on bank statements).")],
    amount: Annotated[str, typer.Option(help="Amount, e.g. 1200 or 1.200,00.")],
    currency: Annotated[str, typer.Option(help="ISO code, e.g. EUR.")],
    due: Annotated[str, typer.Option(help="Due date: YYYY-MM-DD, DD.MM.YYYY or words ('in 30 days').")],
    issued: Annotated[str | None, typer.Option(help="Issue date (default today).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an invoice you sent, so payments can be matched to it."""

    settings = settings_for(workspace)
    try:
        value, written = parse_amount(amount)
        value = check_amount(value)
        code = check_currency(currency)
    except InvalidValue as error:
        raise fail(str(error)) from error
    if written and written != code:
        raise fail(f"--amount says {written} but --currency says {code}")
    if value < 0:
        raise fail("an invoice amount must be positive")
    due_at = _day(due, "--due")
    issued_at = _day(issued, "--issued") if issued else _today(settings)
    invoice = with_memory(
        settings,
        lambda m: m.finance.add_invoice(
            settings.workspace,
            number=number,
            client=client,
            amount=value,
            currency=code,
            due_at=due_at,
            issued_at=issued_at,
        ),
    )
    if as_json:
        out.print_json(data=invoice.to_json())
    else:
        out.print(f"added invoice {_invoice_line(invoice, _today(settings))}", markup=False, highlight=False)


@invoice_app.command("list")
def invoice_list(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only unpaid invoices past their due date.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List invoices by due date."""

    settings = settings_for(workspace)
    today = _today(settings)
    invoices = with_memory(
        settings,
        lambda m: (
            m.finance.overdue_invoices(settings.workspace, today)
            if overdue
            else m.finance.list_invoices(settings.workspace)
        ),
    )
    if as_json:
        out.print_json(data=[i.to_json() | {"days_overdue": i.days_overdue(today)} for i in invoices])
        return
    if not invoices:
        out.print("no overdue invoices" if overdue else "no invoices")
    for invoice in invoices:
        out.print(_invoice_line(invoice, today), markup=False, highlight=False)
