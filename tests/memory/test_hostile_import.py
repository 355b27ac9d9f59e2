"""Hostile import files: whatever makes a line bad, it is reported with its number and every good line
is kept (issue 14: one deeply nested line raised an uncaught RecursionError and lost the import)."""

from __future__ import annotations

import json
from pathlib import Path

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
        *_good("last", 2),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = await memory.import_jsonl(path, workspace=workspace)

    bad = {p.line: p.message for p in report.problems}
    assert sorted(bad) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "nested" in bad[3] and "nested" in bad[4] and "UTF-8" in bad[5]
    assert f"{MAX_IMPORT_LINE_BYTES:,}" in bad[6] and "text" in bad[7] and "layer" in bad[8]
    assert "metadata" in bad[9] and "source" in bad[10]
    assert report.imported == 4
