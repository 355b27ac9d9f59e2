"""The connectors' surface: what other packages may import, one error tree, one text check, one clock."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from connectors.bank import BankConnector
from connectors.checks import MAX_MAIL_BODY_CHARS, MAX_MAIL_SUBJECT_CHARS, InvalidValue, text_arg
from connectors.errors import (
    CalendarError,
    ConnectorError,
    EmailError,
    IcsError,
    SendUncertain,
    SetupError,
    StatementError,
)
from connectors.registry import build
from memory import MemoryService


@pytest.mark.parametrize(
    "package", ["connectors", "connectors.email", "connectors.calendar", "connectors.bank", "connectors.checks"]
)
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{package} exports {name} but has no such name"


def test_every_connector_error_is_caught_as_a_connector_error() -> None:
    for error in (InvalidValue, SetupError, EmailError, SendUncertain, CalendarError, IcsError, StatementError):
        assert issubclass(error, ConnectorError)
    assert issubclass(SendUncertain, EmailError)
    assert issubclass(InvalidValue, ValueError)


def test_a_mail_may_carry_the_limits_the_gate_allows_and_not_one_character_more() -> None:
    args = {"subject": "s" * MAX_MAIL_SUBJECT_CHARS, "body": "b" * MAX_MAIL_BODY_CHARS}
    assert text_arg(args, "body") == args["body"]
    assert text_arg(args, "subject", MAX_MAIL_SUBJECT_CHARS) == args["subject"]
    with pytest.raises(InvalidValue, match="body is longer than 20000 characters"):
        text_arg({"body": "b" * (MAX_MAIL_BODY_CHARS + 1)}, "body")
    with pytest.raises(InvalidValue, match="subject is missing"):
        text_arg({"subject": "  \n "}, "subject", MAX_MAIL_SUBJECT_CHARS)
    assert text_arg({"title": " Call \n with   Jane "}, "title", 20, one_line=True) == "Call with Jane"


def test_connectors_read_the_time_from_the_memory_clock(memory: MemoryService, workspace: str, tmp_path: Path) -> None:
    bank = build("bank", {"folder": str(tmp_path)}, memory=memory, workspace=workspace)
    assert isinstance(bank, BankConnector)
    assert bank.clock == memory.clock.now
