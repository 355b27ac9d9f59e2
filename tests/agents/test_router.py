"""The local router understands everyday phrasing without a model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.commands import route
from agents.phrases import subject_of
from agents.when import split_due


@pytest.mark.parametrize(
    ("text", "kind", "payload"),
    [
        ("remember that Acme pays net 30", "remember", "Acme pays net 30"),
        ("Please remember Jane's birthday is 3 May.", "remember", "Jane's birthday is 3 May."),
        ("note: Jane prefers calls", "remember", "Jane prefers calls"),
        ("/remember the VAT rate is 19%", "remember", "the VAT rate is 19%"),
        ("/remember that Acme pays net 30", "remember", "Acme pays net 30"),
        ("keep in mind that Globex is slow to pay", "remember", "Globex is slow to pay"),
        ("Always CC my accountant on invoices", "rule", "Always CC my accountant on invoices"),
        ("rule: no calls before 10am", "rule", "no calls before 10am"),
        ("What do you know about Acme?", "recall", "Acme"),
        ("what did I say about the Hooli contract", "recall", "the Hooli contract"),
        ("tell me about Globex", "recall", "Globex"),
        ("what is our hourly rate?", "recall", "our hourly rate"),
        ("/recall@SoloOSBot acme", "recall", "acme"),
        ("search invoices", "recall", "invoices"),
        ("add task send invoice to Acme by Friday", "task_add", "send invoice to Acme by Friday"),
        ("todo: renew domain", "task_add", "renew domain"),
        ("add a task to call Bob tomorrow", "task_add", "call Bob tomorrow"),
        ("tasks", "task_list", ""),
        ("What's on my list?", "task_list", ""),
        ("show me my open tasks", "task_list", ""),
        ("done 3", "task_done", ""),
        ("mark task #12 as done", "task_done", ""),
        ("forget the Acme rate", "forget", "the Acme rate"),
        ("help", "help", ""),
        ("what can you do?", "help", ""),
        ("hello!", "greet", ""),
        ("show my memories", "memories", ""),
        ("draft a warm follow-up to Acme", "needs_model", "draft a warm follow-up to Acme"),
        ("", "empty", ""),
        ("   \n ", "empty", ""),
        ("remember", "needs_model", "remember"),
    ],
)
def test_phrasings(text: str, kind: str, payload: str) -> None:
    routed = route(text)
    assert (routed.kind, routed.text) == (kind, payload)


def test_task_ids_and_unknown_commands() -> None:
    assert route("done #7").args == {"id": "7"}
    unknown = route("/frobnicate now")
    assert unknown.kind == "help" and unknown.args == {"unknown_command": "frobnicate"}


@pytest.mark.parametrize(
    ("fact", "subject"),
    [
        ("Acme's day rate is 900 EUR", "acme's day rate"),
        ("Our hourly rate is 120 EUR", "our hourly rate"),
        ("The Globex contact was Tom", "the globex contact"),
        ("It is raining", None),
        ("Jane prefers calls", None),
    ],
)
def test_subject_of(fact: str, subject: str | None) -> None:
    assert subject_of(fact) == subject


def test_split_due_reads_dates_only_when_clear() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
    title, due = split_due("send invoice to Acme by Friday", now=now, timezone="Europe/Berlin")
    assert title == "send invoice to Acme"
    assert due is not None and due.astimezone(UTC).date().isoformat() in {"2026-11-26", "2026-11-27"}
    title, due = split_due("call Bob tomorrow at 9am", now=now, timezone="Europe/Berlin")
    assert title == "call Bob" and due == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert split_due("buy stamps", now=now, timezone="UTC") == ("buy stamps", None)
    assert split_due("meet Bob on the terrace", now=now, timezone="UTC") == ("meet Bob on the terrace", None)
