"""Hostile import files: whatever makes a line bad, it is reported with its number and every good line
is kept (issue 14: one deeply nested line raised an uncaught RecursionError and lost the import)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from memory import MemoryService
from memory._import_lines import MAX_IMPORT_LINE_BYTES, MAX_METADATA_DEPTH


def _good(prefix: str, n: int) -> list[bytes]:
    return [json.dumps({"text": f"{prefix} fact number {i} about the Hooli account"}).encode() for i in range(n)]


async def test_a_line_nested_100000_deep_is_one_problem_and_the_good_lines_are_kept(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "attack.jsonl"
    nested = b'{"text": "deep", "metadata": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}"
    path.write_bytes(b"\n".join([*_good("before", 10), nested, *_good("after", 10)]) + b"\n")

    report = await memory.import_jsonl(path, workspace=workspace)

    assert report.imported == 20
    assert [p.line for p in report.problems] == [11]
    assert "nested" in report.problems[0].message
    assert len(await memory.list(workspace)) == 20


async def test_every_kind_of_bad_line_is_reported_by_number(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        *_good("first", 2),
        b"[" * 100_000 + b"]" * 100_000,  # 3: deep nesting outside any object
        b'{"text": "x", "metadata": {"a": ' + b"[" * MAX_METADATA_DEPTH + b"]" * MAX_METADATA_DEPTH + b"}}",
        b'{"text": "caf\xe9"}',  # 5: invalid UTF-8
        json.dumps({"text": "y" * MAX_IMPORT_LINE_BYTES}).encode(),  # 6: a huge line
        json.dumps({"text": 42}).encode(),  # 7: wrong type
        json.dumps({"text": "wrong layer type", "layer": ["project"]}).encode(),  # 8
        json.dumps({"text": "wrong metadata type", "metadata": "not an object"}).encode(),  # 9
        json.dumps({"text": "wrong source type", "source": {"x": 1}}).encode(),  # 10
        json.dumps({"text": "before year 1 in UTC", "occurred_at": "0001-01-01T00:00:00+14:00"}).encode(),  # 11
        json.dumps({"text": "NaN", "metadata": {"x": float("nan")}}).encode(),  # 12: Postgres refuses NaN
        json.dumps({"text": "NUL in subject", "subject": "a\u0000b"}).encode(),  # 13
        *_good("last", 2),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = await memory.import_jsonl(path, workspace=workspace)

    bad = {p.line: p.message for p in report.problems}
    assert sorted(bad) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert "nested" in bad[3] and "nested" in bad[4] and "UTF-8" in bad[5]
    assert f"{MAX_IMPORT_LINE_BYTES:,}" in bad[6] and "text" in bad[7] and "layer" in bad[8]
    assert "metadata" in bad[9] and "source" in bad[10] and "out of range" in bad[11]
    assert "NaN" in bad[12] and "NUL" in bad[13]
    assert report.imported == 4


async def test_a_row_the_database_refuses_costs_only_its_own_line(
    memory: MemoryService, workspace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value the checks let through but Postgres refuses fails its batch; the batch is retried line
    by line, so only that line is lost (reported with its number)."""
    insert = MemoryService._insert_many

    def picky(self: MemoryService, rows: list[dict[str, Any]], vectors: list[list[float]]) -> int:
        if any("refused" in row["text"] for row in rows):
            raise psycopg.errors.InvalidTextRepresentation("invalid input syntax")
        return insert(self, rows, vectors)

    monkeypatch.setattr(MemoryService, "_insert_many", picky)
    path = tmp_path / "batch.jsonl"
    lines = [*_good("one", 3), json.dumps({"text": "this one is refused"}).encode(), *_good("two", 3)]
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = await memory.import_jsonl(path, workspace=workspace)

    assert report.imported == 6
    assert [(p.line, p.message) for p in report.problems] == [(4, "the database refused it: invalid input syntax")]
