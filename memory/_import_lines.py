"""Reading the lines of a JSONL memory import defensively: a hostile line is a ``BadLine`` naming what
is wrong with it, never an exception that ends the import.

What makes a line bad: more than ``MAX_IMPORT_LINE_BYTES`` (the rest of it is skipped without being
read into memory), invalid UTF-8, invalid JSON (including nesting so deep that the parser gives up,
numbers too long to convert, NaN/Infinity, which Postgres refuses), a value of the wrong type, and
metadata nested deeper than ``MAX_METADATA_DEPTH`` or holding a NUL character (Postgres refuses it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

MAX_IMPORT_LINE_BYTES = 1_000_000  # a memory is at most 20,000 characters; its metadata is small
MAX_METADATA_DEPTH = 20
_SKIP_CHUNK = 1 << 20
_STRING_FIELDS = ("layer", "occurred_at", "subject", "source")


class BadLine(Exception):
    """A line that cannot be imported; the message says why."""


def numbered_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(number, line)`` from 1; ``line`` is None for a line longer than ``MAX_IMPORT_LINE_BYTES``."""
    number = 0
    while raw := handle.readline(MAX_IMPORT_LINE_BYTES + 1):
        number += 1
        if len(raw) <= MAX_IMPORT_LINE_BYTES or raw.endswith(b"\n"):
            yield number, raw
            continue
        while (chunk := handle.readline(_SKIP_CHUNK)) and not chunk.endswith(b"\n"):
            pass
        yield number, None


def parse_line(raw: bytes | None) -> dict[str, Any] | None:
    """The JSON object of one line with its fields' types checked; None for a blank line."""
    if raw is None:
        raise BadLine(f"the line is longer than {MAX_IMPORT_LINE_BYTES:,} bytes")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadLine(f"not valid UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1})") from None
    if not line.strip():
        return None
    try:
        data = json.loads(line, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadLine("invalid JSON: nested too deeply to read") from None
    except json.JSONDecodeError as err:
        raise BadLine(f"invalid JSON: {err.msg} at column {err.colno}") from None
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise BadLine(f"invalid JSON: {_short(err)}") from None
    if not isinstance(data, dict):
        raise BadLine("expected a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadLine('"text" is missing or empty')
    for name in _STRING_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise BadLine(f'"{name}" must be a string')
        if "\x00" in (data.get(name) or ""):
            raise BadLine(f'"{name}" contains a NUL character')
    metadata = data.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise BadLine('"metadata" must be a JSON object')
        _check_metadata(metadata)
    return data


def check_instant(moment: datetime, text: str) -> None:
    """An ``occurred_at`` every reader can represent: in UTC between years 1 and 9999."""
    try:
        (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise BadLine(f'"occurred_at" {text!r} is out of range') from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_metadata(metadata: dict[str, Any]) -> None:
    stack: list[tuple[Any, int]] = [(metadata, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise BadLine(f'"metadata" is nested deeper than {MAX_METADATA_DEPTH} levels')
        if isinstance(value, dict):
            if any("\x00" in key for key in value):
                raise BadLine('"metadata" contains a NUL character')
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            raise BadLine('"metadata" contains a NUL character')


def refusal(err: BaseException) -> str:
    """The first line of a database error, for the problem report."""
    return _short(str(err).partition("\n")[0])


def _short(err: BaseException | str, limit: int = 160) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "MAX_IMPORT_LINE_BYTES",
    "MAX_METADATA_DEPTH",
    "BadLine",
    "check_instant",
    "numbered_lines",
    "parse_line",
    "refusal",
]
