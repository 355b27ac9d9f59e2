"""Money records: invoices, bank transactions, and the quarantine for statement rows that failed validation.

``import_transactions`` takes one statement — canonical transactions and rejected rows, as the bank
connector produces them — and writes it in ONE database transaction: the new transactions, the
quarantined rows and the invoices that reconciliation paid all commit together, or nothing does.
A statement with some bad rows imports its good rows and quarantines the bad ones (with their line
and the reason); a single record is never half-written. Rows whose ``external_id`` is already
stored for the account (a re-imported or overlapping statement) are counted as duplicates and not
written again, so they never pay an invoice twice.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from memory._memory_types import ImportProblem
from memory._postgres import Database
from memory._reconciliation import UNMATCHED, OpenInvoice, Reconciler
from memory.clock import Clock
from memory.errors import InvalidRecord

InvoiceStatus = Literal["open", "partial", "paid", "void"]
INVOICE_STATUSES: tuple[InvoiceStatus, ...] = ("open", "partial", "paid", "void")
BATCH = 1_000  # statement rows checked for duplicates and copied per round trip
MAX_REPORTED_PROBLEMS = 100  # ImportSummary.problems keeps the first ones; the quarantine keeps all
MAX_AMOUNT = Decimal("999999999999.99")  # numeric(14, 2)
CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Invoice:
    id: int
    workspace: str
    number: str
    client: str
    amount: Decimal
    currency: str
    issued_at: date
    due_at: date
    status: InvoiceStatus
    paid_amount: Decimal
    contact_id: int | None
    created_at: datetime

    @property
    def outstanding(self) -> Decimal:
        return Decimal(0) if self.status == "void" else self.amount - self.paid_amount

    def days_overdue(self, today: date) -> int:
        return max(0, (today - self.due_at).days) if self.status in ("open", "partial") else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "client": self.client,
            "amount": str(self.amount),
            "currency": self.currency,
            "issued_at": self.issued_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "status": self.status,
            "paid_amount": str(self.paid_amount),
            "outstanding": str(self.outstanding),
        }


@dataclass(frozen=True)
class NewTransaction:
    """A canonical bank transaction as a connector produces it. ``amount`` > 0 is money in."""

    external_id: str
    posted_at: date
    amount: Decimal
    currency: str
    counterparty: str = ""
    memo: str = ""


@dataclass(frozen=True)
class RejectedRow:
    """A statement row that failed parsing or validation: quarantined, never imported."""

    line: int
    raw: str
    problem: str


StatementItem = NewTransaction | RejectedRow


@dataclass(frozen=True)
class ImportSummary:
    """What one import did. ``unmatched`` counts incoming money that paid no invoice; outgoing
    transactions are imported and counted in ``outgoing``. ``problems`` holds the first
    ``MAX_REPORTED_PROBLEMS`` quarantined rows (line and reason); ``quarantined`` counts them all."""

    imported: int = 0
    duplicates: int = 0
    matched: int = 0
    partial: int = 0
    unmatched: int = 0
    quarantined: int = 0
    outgoing: int = 0
    problems: tuple[ImportProblem, ...] = ()

    def __add__(self, other: ImportSummary) -> ImportSummary:
        counts = {
            name: getattr(self, name) + getattr(other, name)
            for name in ("imported", "duplicates", "matched", "partial", "unmatched", "quarantined", "outgoing")
        }
        return ImportSummary(**counts, problems=(self.problems + other.problems)[:MAX_REPORTED_PROBLEMS])

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "matched": self.matched,
            "partial": self.partial,
            "unmatched": self.unmatched,
            "outgoing": self.outgoing,
            "quarantined": self.quarantined,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }


@dataclass(frozen=True)
class Payment:
    """Money that came in, with the invoice it paid (if reconciliation found one)."""

    transaction_id: int
    posted_at: date
    amount: Decimal
    currency: str
    counterparty: str
    memo: str
    match_status: str
    invoice_number: str | None = None
    client: str | None = None

    @property
    def payer(self) -> str:
        return self.client or self.counterparty or self.memo


@dataclass(frozen=True)
class QuarantineEntry:
    id: int
    source: str
    line: int
    raw: str
    problem: str
    created_at: datetime


@dataclass
class _Tally:
    summary: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("imported", "duplicates", "matched", "partial", "unmatched", "quarantined", "outgoing"), 0
        )
    )
    problems: list[ImportProblem] = field(default_factory=list)

    def result(self) -> ImportSummary:
        return ImportSummary(**self.summary, problems=tuple(self.problems))


def _invoice(row: dict[str, Any]) -> Invoice:
    return Invoice(
        id=row["id"],
        workspace=row["workspace"],
        number=row["number"],
        client=row["client"],
        amount=row["amount"],
        currency=row["currency"],
        issued_at=row["issued_at"],
        due_at=row["due_at"],
        status=row["status"],
        paid_amount=row["paid_amount"],
        contact_id=row["contact_id"],
        created_at=row["created_at"],
    )


def _money(amount: Decimal, what: str) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidRecord(f"{what} must be a finite decimal amount")
    if amount != amount.quantize(CENT) or abs(amount) > MAX_AMOUNT:
        raise InvalidRecord(f"{what} {amount} has more than 2 decimals or is too large")
    return amount.quantize(CENT)


def _currency(code: str) -> str:
    if not isinstance(code, str) or not _CURRENCY.match(code):
        raise InvalidRecord(f"currency {code!r} is not a three-letter code such as EUR")
    return code


def _text(value: str, what: str) -> str:
    if "\x00" in value:
        raise InvalidRecord(f"{what} contains a NUL character")
    return value


def _checked(record: NewTransaction) -> NewTransaction:
    """The invariants the database relies on. The connector validates first; this is the last line."""
    if not record.external_id:
        raise InvalidRecord("a transaction needs an external id")
    amount = _money(record.amount, "transaction amount")
    if amount == 0:
        raise InvalidRecord("a transaction amount cannot be zero")
    return replace(
        record,
        amount=amount,
        currency=_currency(record.currency),
        counterparty=_text(record.counterparty, "counterparty"),
        memo=_text(record.memo, "memo"),
        external_id=_text(record.external_id, "external id"),
    )


def _printable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _batches(items: Iterable[StatementItem]) -> Iterator[list[StatementItem]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


class Finance:
    """Invoices and bank transactions of a workspace, and their reconciliation."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # -- invoices -----------------------------------------------------------------------------

    async def add_invoice(
        self,
        workspace: str,
        *,
        number: str,
        client: str,
        amount: Decimal,
        currency: str,
        due_at: date,
        issued_at: date | None = None,
    ) -> Invoice:
        """Record an invoice sent to a client. Linked to the contact of the same name, if there is one."""
        number, client = " ".join(number.split()), " ".join(client.split())
        if not number or not client:
            raise InvalidRecord("an invoice needs a number and a client")
        amount = _money(amount, "invoice amount")
        if amount <= 0:
            raise InvalidRecord("an invoice amount must be positive")
        issued = issued_at or self.clock.today()
        if due_at < issued:
            raise InvalidRecord(f"invoice {number} would be due ({due_at}) before it is issued ({issued})")
        currency = _currency(currency)

        def run() -> Invoice:
            try:
                with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                    row = cur.execute(
                        """INSERT INTO invoices
                             (workspace, number, client, amount, currency, issued_at, due_at, contact_id)
                           VALUES (%s, %s, %s, %s, %s, %s, %s,
                                   (SELECT id FROM contacts WHERE workspace = %s AND lower(name) = lower(%s)))
                           RETURNING *""",
                        (workspace, number, client, amount, currency, issued, due_at, workspace, client),
                    ).fetchone()
            except psycopg.errors.UniqueViolation as err:
                raise InvalidRecord(f"invoice {number} already exists") from err
            assert row is not None
            return _invoice(row)

        return await asyncio.to_thread(run)

    async def list_invoices(self, workspace: str, status: InvoiceStatus | None = None) -> list[Invoice]:
        """Invoices by due date (oldest first), optionally only those with ``status``."""
        if status is not None and status not in INVOICE_STATUSES:
            raise InvalidRecord(f"unknown invoice status {status!r}; use one of {', '.join(INVOICE_STATUSES)}")
        return await asyncio.to_thread(
            self._invoices, "workspace = %s AND (%s::text IS NULL OR status = %s)", (workspace, status, status)
        )

    async def overdue_invoices(self, workspace: str, today: date) -> list[Invoice]:
        """Open or partly paid invoices whose due date is before ``today``, most overdue first."""
        return await asyncio.to_thread(
            self._invoices, "workspace = %s AND status IN ('open', 'partial') AND due_at < %s", (workspace, today)
        )

    def _invoices(self, where: str, params: tuple[Any, ...]) -> list[Invoice]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(f"SELECT * FROM invoices WHERE {where} ORDER BY due_at, number", params).fetchall()
        return [_invoice(r) for r in rows]

    # -- transactions -------------------------------------------------------------------------

    async def payments_received(self, workspace: str, since: date, until: date) -> list[Payment]:
        """Incoming transactions posted on or after ``since`` and before ``until``, oldest first."""

        def run() -> list[Payment]:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    """SELECT t.id, t.posted_at, t.amount, t.currency, t.counterparty, t.memo, t.match_status,
                              i.number, i.client
                       FROM transactions t LEFT JOIN invoices i ON i.id = t.invoice_id
                       WHERE t.workspace = %s AND t.amount > 0 AND t.posted_at >= %s AND t.posted_at < %s
                       ORDER BY t.posted_at, t.id""",
                    (workspace, since, until),
                ).fetchall()
            return [
                Payment(
                    transaction_id=r["id"],
                    posted_at=r["posted_at"],
                    amount=r["amount"],
                    currency=r["currency"],
                    counterparty=r["counterparty"],
                    memo=r["memo"],
                    match_status=r["match_status"],
                    invoice_number=r["number"],
                    client=r["client"],
                )
                for r in rows
            ]

        return await asyncio.to_thread(run)

    async def quarantine(self, workspace: str, *, source: str | None = None, limit: int = 100) -> list[QuarantineEntry]:
        """Quarantined statement rows, newest import first, in line order."""

        def run() -> list[QuarantineEntry]:
            with self.db.connection() as conn:
                rows = conn.execute(
                    """SELECT id, source, line, raw, problem, created_at FROM quarantine
                       WHERE workspace = %s AND (%s::text IS NULL OR source = %s)
                       ORDER BY created_at DESC, line, id LIMIT %s""",
                    (workspace, source, source, limit),
                ).fetchall()
            return [QuarantineEntry(*r) for r in rows]

        return await asyncio.to_thread(run)

    async def import_transactions(
        self, workspace: str, account: str, records: Iterable[StatementItem], source: str
    ) -> ImportSummary:
        """Import one statement and reconcile its incoming money against open invoices (all or nothing).

        ``records`` is consumed once, in batches, so a statement is never held in memory twice.
        Raises ``InvalidRecord`` (and writes nothing) if a record breaks the invariants the
        connector should have enforced.
        """
        account = " ".join(account.split())
        if not workspace or not account:
            raise InvalidRecord("an import needs a workspace and an account")
        return await asyncio.to_thread(self._import_sync, workspace, account, records, source)

    def _import_sync(
        self, workspace: str, account: str, records: Iterable[StatementItem], source: str
    ) -> ImportSummary:
        tally = _Tally()
        seen: set[str] = set()  # external ids of this statement: a row repeated in the file is a duplicate too
        with self.db.connection() as conn:
            # One import per account at a time, so two runs of the same file cannot both pass the
            # duplicate check; the invoices are locked for the reconciliation.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"bank:{workspace}:{account}",))
            reconciler = Reconciler(self._open_invoices(conn, workspace))
            for batch in _batches(records):
                self._import_batch(conn, workspace, account, source, batch, reconciler, seen, tally)
            conn.cursor().executemany(
                "UPDATE invoices SET paid_amount = %s, status = %s WHERE id = %s",
                [(i.paid_amount, i.status, i.id) for i in reconciler.changed],
            )
        return tally.result()

    @staticmethod
    def _open_invoices(conn: psycopg.Connection[Any], workspace: str) -> list[OpenInvoice]:
        rows = conn.execute(
            """SELECT id, number, client, currency, amount, paid_amount, due_at, status FROM invoices
               WHERE workspace = %s AND status IN ('open', 'partial') ORDER BY due_at, id FOR UPDATE""",
            (workspace,),
        ).fetchall()
        return [OpenInvoice(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    @staticmethod
    def _import_batch(
        conn: psycopg.Connection[Any],
        workspace: str,
        account: str,
        source: str,
        batch: list[StatementItem],
        reconciler: Reconciler,
        seen: set[str],
        tally: _Tally,
    ) -> None:
        records = [_checked(item) for item in batch if isinstance(item, NewTransaction)]
        rejected = [item for item in batch if isinstance(item, RejectedRow)]
        stored = {
            row[0]
            for row in conn.execute(
                "SELECT external_id FROM transactions WHERE workspace = %s AND account = %s AND external_id = ANY(%s)",
                (workspace, account, [r.external_id for r in records]),
            )
        }
        counts = tally.summary
        rows = []
        for record in records:
            if record.external_id in stored or record.external_id in seen:
                counts["duplicates"] += 1
                continue
            seen.add(record.external_id)
            if record.amount > 0:
                match = reconciler.match(record.amount, record.currency, f"{record.counterparty} {record.memo}")
                counts[match.status] += 1
            else:  # money out: stored, never reconciled against receivables
                match = UNMATCHED
                counts["outgoing"] += 1
            counts["imported"] += 1
            invoice_id = match.invoice.id if match.invoice else None
            rows.append(
                (
                    *(workspace, account, record.external_id, record.posted_at, record.amount, record.currency),
                    *(record.counterparty, record.memo, invoice_id, match.status, source),
                )
            )
        with conn.cursor() as cur:
            if rows:
                with cur.copy(
                    """COPY transactions (workspace, account, external_id, posted_at, amount, currency,
                                          counterparty, memo, invoice_id, match_status, source) FROM STDIN"""
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            if rejected:
                cur.executemany(
                    "INSERT INTO quarantine (workspace, source, line, raw, problem) VALUES (%s, %s, %s, %s, %s)",
                    [(workspace, source, r.line, _printable(r.raw), _printable(r.problem)) for r in rejected],
                )
        counts["quarantined"] += len(rejected)
        room = MAX_REPORTED_PROBLEMS - len(tally.problems)
        tally.problems.extend(ImportProblem(r.line, r.problem) for r in rejected[: max(0, room)])


__all__ = [
    "INVOICE_STATUSES",
    "Finance",
    "ImportSummary",
    "Invoice",
    "InvoiceStatus",
    "NewTransaction",
    "Payment",
    "QuarantineEntry",
    "RejectedRow",
    "StatementItem",
]
