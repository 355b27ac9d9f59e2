"""What a statement file yields: one ``Statement`` per account, its rows transactions or rejects."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from connectors.errors import StatementError
from memory import RejectedRow, StatementItem

MAX_RAW_CHARS = 2_000
MAX_PROBLEM_CHARS = 500
EXPECTED = "expected an OFX/QFX or CSV bank statement"
MAX_STATEMENT_BYTES = 10 * 1_048_576  # a year of a busy account is well under 1 MB of OFX or CSV


def refuse_oversized(path: Path, size: int) -> None:
    """``StatementError`` naming the limit and the size when a file is larger than a statement can be."""
    if size > MAX_STATEMENT_BYTES:
        raise StatementError(
            f"{path}: the file is {size / 1_048_576:.1f} MB; SoloOS reads statements up to "
            f"{MAX_STATEMENT_BYTES // 1_048_576} MB (a year of a busy account is well under 1 MB): "
            "export a shorter period"
        )


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


def clean_text(text: str) -> str:
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cc" or c.isspace()).split())


def rejected_row(line: int, raw: str, problems: list[str]) -> RejectedRow:
    return RejectedRow(line, raw[:MAX_RAW_CHARS], "; ".join(problems)[:MAX_PROBLEM_CHARS])


__all__ = ["EXPECTED", "MAX_STATEMENT_BYTES", "Statement", "clean_text", "refuse_oversized", "rejected_row"]
