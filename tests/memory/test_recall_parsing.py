"""The pieces of recall that need no database: the time a question names, a memory's context, names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from memory._recall import cover_names, named
from memory._recall_context import Neighbours, date_words, time_window

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def span(query: str) -> tuple[str, str] | None:
    window = time_window(query, NOW)
    return (window[0].date().isoformat(), window[1].date().isoformat()) if window else None


def test_times_a_question_names() -> None:
    assert span("what did we decide last month?") == ("2026-05-01", "2026-06-01")
    assert span("anything from this week") == ("2026-06-15", "2026-06-22")
    assert span("what did Nadia cook in March?") == ("2026-03-01", "2026-04-01")
    assert span("what happened in July?") == ("2025-07-01", "2025-08-01")  # the latest July, not a future one
    assert span("what happened on 7 May 2025?") == ("2025-05-07", "2025-05-08")
    assert span("the call on March 3rd, 2024") == ("2024-03-03", "2024-03-04")
    assert span("invoices sent in 2025") == ("2025-01-01", "2026-01-01")
    assert span("what did she say yesterday") == ("2026-06-14", "2026-06-15")
    assert span("the quote from three weeks ago") == ("2026-05-20", "2026-05-31")


def test_words_that_are_not_times() -> None:
    assert span("may I ask what Acme pays?") is None
    assert span("the last call with Globex") is None
    assert span("invoice INV-2026-0142") is None


def test_context_holds_neighbours_of_the_same_session_speaker_and_date() -> None:
    def row(text: str, session: int) -> dict[str, Any]:
        return {"text": text, "metadata": {"session": session, "speaker": "Nadia"}, "occurred_at": NOW}

    linker = Neighbours()
    done = [*linker.push(row("one", 1)), *linker.push(row("two", 1)), *linker.push(row("three", 2))]
    done += linker.finish()

    assert [r["context"] for r in done] == [
        "two | Nadia | 15 June 2026, June 2026, Monday",
        "one | Nadia | 15 June 2026, June 2026, Monday",  # "three" is another session
        "Nadia | 15 June 2026, June 2026, Monday",
    ]
    assert date_words(datetime(2025, 5, 7, tzinfo=UTC)) == "7 May 2025, May 2025, Wednesday"


def test_two_names_keep_a_memory_each() -> None:
    assert named("What day rate do Acme and Globex pay?") == ["Acme", "Globex"]
    assert named("How did the pottery class go?") == []
    rows = [{"text": f"Acme note {n}"} for n in range(6)] + [{"text": "Globex pays 580"}]

    top = cover_names(rows, 3, ["Acme", "Globex"])

    assert [r["text"] for r in top] == ["Acme note 0", "Acme note 1", "Globex pays 580"]
