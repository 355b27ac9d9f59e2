"""Oversized statement files are refused by size before they are parsed (issue 14: a 42 MB OFX took
1.29 GB of memory), with a message naming the limit and the file's size, and nothing is imported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import pytest

from connectors.bank import BankConfig, BankConnector, StatementError, read_statements
from connectors.bank.reader import HEAD_BYTES, MAX_STATEMENT_BYTES
from memory import MemoryService
from tests.conftest import BERLIN

TODAY = date(2026, 11, 25)
MB = 1_048_576


@pytest.fixture(autouse=True)
def _today(clock_at: Callable[[datetime], None]) -> None:
    clock_at(datetime.combine(TODAY, time(12), BERLIN))


def sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of ``size`` bytes whose first 64 KiB read like a statement; the rest is a hole (cheap to
    create), which the size check must refuse before anything reads it."""
    with path.open("wb") as handle:
        handle.write(head.ljust(HEAD_BYTES + 1, b"\n"))
        handle.truncate(size)
    return path


def test_an_ofx_over_the_limit_is_refused_by_size_before_parsing(tmp_path: Path) -> None:
    path = sparse(tmp_path / "export.ofx", b"OFXHEADER:100\r\nDATA:OFXSGML\r\n", 42 * MB)
    with pytest.raises(StatementError) as caught:
        read_statements(path, today=TODAY)
    assert str(caught.value) == (
        f"{path}: the file is 42.0 MB; SoloOS reads statements up to {MAX_STATEMENT_BYTES // MB} MB "
        "(a year of a busy account is well under 1 MB): export a shorter period"
    )


def test_a_csv_just_over_the_limit_is_refused_and_one_at_the_limit_is_read(tmp_path: Path) -> None:
    header = b"Date,Payee,Amount\n2026-11-20,Hooli,100.00\n"
    big = sparse(tmp_path / "big.csv", header, MAX_STATEMENT_BYTES + 1)
    with pytest.raises(StatementError, match=r"big\.csv: the file is 10\.0 MB; SoloOS reads statements up to 10 MB"):
        read_statements(big, currency="EUR", today=TODAY)
    fits = tmp_path / "fits.csv"
    fits.write_bytes(header + b"\n" * (MAX_STATEMENT_BYTES - len(header)))
    assert read_statements(fits, currency="EUR", today=TODAY)[0].items


async def test_the_bank_connector_rejects_an_oversized_file_and_imports_nothing(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    folder = tmp_path / "statements"
    folder.mkdir()
    sparse(folder / "export.qfx", b"OFXHEADER:100\r\n", 42 * MB)
    connector = BankConnector(
        BankConfig(folder=folder, currency="EUR"), db=memory.db, workspace=workspace, clock=memory.clock.now
    )

    report = await connector.read(memory, workspace)

    assert report.imported == 0
    assert report.problems == (
        "export.qfx: "
        f"{folder / 'export.qfx'}: the file is 42.0 MB; SoloOS reads statements up to 10 MB "
        "(a year of a busy account is well under 1 MB): export a shorter period",
    )
    assert (folder / "rejected" / "export.qfx").exists()
    with memory.db.connection() as conn:
        count = conn.execute("SELECT count(*) FROM transactions WHERE workspace = %s", (workspace,)).fetchone()
    assert count == (0,)
