"""The bank connector: a folder you drop statement files into (OFX/QFX or CSV, as your bank's
website exports them). Each sync imports the new files with reconciliation and moves them to
``imported/``; a file that is not a statement goes to ``rejected/`` with a note saying why.

Banks offer no standard API to a one-person business, so SoloOS never logs in to a bank and never
pays from here: outgoing payments are drafted actions the operator approves in chat.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from connectors.bank.amounts import DateOrder
from connectors.bank.reader import read_statements
from connectors.base import Capability, Connector, Health, ReadReport
from connectors.effects import Outcome
from connectors.errors import ConnectorError, StatementError
from memory import Clock

if TYPE_CHECKING:
    from memory import Database, MemoryService
    from policies.engine import Action

SUFFIXES = (".ofx", ".qfx", ".csv")


class BankConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    folder: Path  # where statement files are dropped
    account: str | None = Field(default=None, max_length=100)  # default: the OFX account id, else "main"
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")  # for CSVs without a currency column
    date_order: DateOrder | None = None  # for 01/02/2026-style dates; default: detect per file


class BankConnector:
    name: ClassVar[str] = "bank"
    capabilities: ClassVar[Capability] = Capability.READ | Capability.IMPORT
    Config: ClassVar[type[BaseModel]] = BankConfig

    def __init__(
        self,
        config: BankConfig,
        *,
        db: Database | None = None,
        workspace: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or Clock().now  # "today" bounds plausible posting dates; "now" names a repeated file

    async def health(self) -> Health:
        def check() -> Health:
            folder = self.config.folder.expanduser()
            try:
                for sub in (folder, folder / "imported", folder / "rejected"):
                    sub.mkdir(parents=True, exist_ok=True)
                probe = folder / ".soloos-write-check"
                probe.write_text("ok")
                probe.unlink()
            except OSError as err:
                return Health(
                    False, f"cannot use {folder} for statements: {err.strerror or err}. Pick a folder you own."
                )
            return Health(True, f"imports statements (.ofx .qfx .csv) dropped into {folder}")

        return await asyncio.to_thread(check)

    async def read(self, memory: MemoryService, workspace: str) -> ReadReport:
        folder = self.config.folder.expanduser()
        imported = duplicates = quarantined = 0
        problems: list[str] = []
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        for path in files:
            try:
                statements = read_statements(
                    path,
                    currency=self.config.currency,
                    date_order=self.config.date_order,
                    today=self.clock().astimezone(UTC).date(),
                )
            except StatementError as err:
                problems.append(f"{path.name}: {err}")
                await asyncio.to_thread(_move, path, folder / "rejected", self.clock(), note=str(err))
                continue
            for statement in statements:
                account = self.config.account or statement.account or "main"
                summary = await memory.finance.import_transactions(workspace, account, statement.items, path.name)
                imported += summary.imported
                duplicates += summary.duplicates
                quarantined += summary.quarantined
                problems += [f"{path.name} line {p.line}: {p.message}" for p in summary.problems[:3]]
            await asyncio.to_thread(_move, path, folder / "imported", self.clock())
        return ReadReport(imported, duplicates, quarantined, tuple(problems[:10]))

    async def write(self, action: Action, idempotency_key: str) -> Outcome:
        raise ConnectorError(
            "the bank connector only reads statements; payments are drafted and approved in chat, then made by you"
        )

    async def flush(self, memory: MemoryService, workspace: str) -> int:
        return 0


def _move(path: Path, into: Path, now: datetime, *, note: str | None = None) -> None:
    into.mkdir(parents=True, exist_ok=True)
    target = into / path.name
    if target.exists():  # the same name again (banks reuse "statement.csv"): keep both
        target = into / f"{path.stem}-{now.astimezone(UTC):%Y%m%d%H%M%S}{path.suffix}"
    shutil.move(path, target)
    if note:
        target.with_name(target.name + ".why.txt").write_text(note + "\n", encoding="utf-8")


if TYPE_CHECKING:

    def _is_a_connector(connector: BankConnector) -> Connector:  # checked by mypy, never run
        return connector


__all__ = ["SUFFIXES", "BankConfig", "BankConnector"]
