"""The ``soloos`` command line, in process, against the session's embedded server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_add_search_list_forget_with_json(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("memory", "add", "Northwind pays within 45 days", "--json")
    assert code == 0
    added = json.loads(out)
    assert added["layer"] == "project" and added["duplicate"] is False

    code, out, _ = run("memory", "search", "how fast does Northwind pay", "--json")
    assert code == 0
    hits = json.loads(out)
    assert hits[0]["id"] == added["id"] and hits[0]["score"] > 0

    code, out, _ = run("memory", "list", "--json")
    assert [i["text"] for i in json.loads(out)] == ["Northwind pays within 45 days"]

    code, out, _ = run("memory", "forget", added["id"][:8])
    assert code == 0 and "forgot" in out
    code, out, _ = run("memory", "list", "--json")
    assert json.loads(out) == []


def test_import_reports_bad_lines_and_export_round_trips(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"text": "Hooli wants weekly updates"}\n'
        b"not json\n"
        b'{"text": "Rule: reply within a day", "layer": "institutional"}\n'
    )
    code, out, err = run("memory", "import", str(source))
    assert code == 1  # some lines were bad
    assert "imported 2" in out and "line 2: invalid JSON" in err

    target = tmp_path / "out.jsonl"
    code, _, _ = run("memory", "export", "--out", str(target))
    assert code == 0
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(e["text"] for e in exported) == ["Hooli wants weekly updates", "Rule: reply within a day"]


def test_bad_arguments_get_clear_errors(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("memory", "search", "x", "--since", "the day after never")
    assert code == 2 and "not a date I understand" in err
    code, _, err = run("memory", "add", "x", "--layer", "semantic")
    assert code == 2 and "unknown layer" in err
    code, _, err = run("memory", "forget", "zzz")
    assert code == 2 and "not a memory id" in err
    code, _, err = run("memory", "import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "is not a file" in err


def test_invalid_settings_are_reported(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOLOOS_TIMEZONE", "Mars/Olympus_Mons")
    code, _, err = run("memory", "list")
    assert code == 2 and "unknown time zone" in err


def test_doctor_shows_what_works_and_what_is_missing(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")  # table cells must not wrap inside the phrases checked below
    code, out, _ = run("doctor")
    assert code == 0, out
    assert "database" in out and "pgvector" in out and "schema v" in out
    assert "SOLOOS_MODEL_FAST" in out  # the fix for the missing model
