"""Property tests on the input boundaries: any text, any bytes — a clear answer, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.commands import route
from agents.phrases import subject_of
from agents.when import split_due
from bot.intent import Reply


@given(st.text(max_size=400))
@settings(max_examples=400, deadline=None)
def test_router_never_raises_and_always_classifies(text: str) -> None:
    routed = route(text)
    assert routed.kind
    if not text.strip():
        assert routed.kind == "empty"
    subject_of(text)


@given(st.text(max_size=120))
@settings(max_examples=150, deadline=None)
def test_due_date_parsing_never_raises(text: str) -> None:
    from datetime import UTC, datetime

    title, due = split_due(text or "x", now=datetime(2026, 11, 25, tzinfo=UTC), timezone="Europe/Berlin")
    assert isinstance(title, str)
    assert due is None or due.tzinfo is not None


@given(st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=4))
def test_reply_round_trips_through_json_storage(data: dict[str, object]) -> None:
    reply = Reply.from_json(data)
    assert isinstance(reply.text, str)
    assert Reply.from_json(json.loads(json.dumps(reply.to_json()))) == reply


@given(st.lists(st.binary(max_size=200), min_size=1, max_size=8))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_import_of_arbitrary_bytes_reports_lines_and_never_crashes(memory, tmp_path: Path, lines: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import uuid

    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    workspace = f"fuzz-{uuid.uuid4().hex[:8]}"
    loop = asyncio.new_event_loop()
    try:
        report = loop.run_until_complete(memory.import_jsonl(path, workspace=workspace))
    finally:
        loop.close()
    assert report.imported + report.duplicates + len(report.problems) <= len(lines)
    assert all(1 <= p.line <= len(lines) and p.message for p in report.problems)


@given(st.text(max_size=300))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_chat_message_gets_a_reply(app, text: str) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import uuid

    from tests.support.chat import FakeChat

    chat = FakeChat(app, f"fuzz-{uuid.uuid4().hex[:8]}")
    loop = asyncio.new_event_loop()
    try:
        reply = loop.run_until_complete(chat.say(text))
    finally:
        loop.close()
    assert reply.strip()
    assert "Something went wrong" not in reply  # no unexpected exception on any input
