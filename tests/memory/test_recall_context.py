"""Recall that holds on real conversation (issue 17): independent word candidates, context, time,
two pieces of evidence; identifiers, supersession and expiry as before. Real Postgres, real embedder."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.dataset import filler
from memory import MemoryService
from memory._recall_context import Neighbours, embedded_text

SESSION_DATES = {
    1: datetime(2025, 1, 14, 18, 0, tzinfo=UTC),
    2: datetime(2025, 3, 9, 18, 0, tzinfo=UTC),
    3: datetime(2025, 5, 7, 18, 0, tzinfo=UTC),
    4: datetime(2025, 8, 21, 18, 0, tzinfo=UTC),
}

# A small chat between two friends over four sessions: (session, speaker, text).
CHAT: tuple[tuple[int, str, str], ...] = (
    (1, "Sam", "Happy new year! How was the break?"),
    (1, "Nadia", "Quiet. I went up to my mum's for five days and didn't open the laptop once."),
    (1, "Sam", "How did the pottery evening class with Marguerite go in the end?"),
    (1, "Nadia", "Honestly wonderful. My first one doesn't wobble, so mum gets it for her birthday."),
    (1, "Sam", "Any news on the money the dentist owes you?"),
    (1, "Nadia", "Still nothing. The practice manager says the partners have to sign it off."),
    (2, "Sam", "You sounded stressed on the phone yesterday."),
    (2, "Nadia", "The garden centre wants the whole shop rebuilt before Easter, it's a lot."),
    (2, "Sam", "Did you cook anything nice this weekend at least?"),
    (2, "Nadia", "A big pot of dal with too much ginger. Still ate all of it."),
    (2, "Sam", "Are you still thinking about the new laptop?"),
    (2, "Nadia", "Yes, but I'll wait until the dentist pays, I'm not spending money I don't have."),
    (3, "Sam", "Big day today?"),
    (3, "Nadia", "Signed the lease on a small studio by the canal, my own desk at last."),
    (3, "Sam", "That's huge! How much is the rent?"),
    (3, "Nadia", "Four hundred a month, which is fine now that the garden centre pays on time."),
    (4, "Sam", "How's the studio working out?"),
    (4, "Nadia", "Loving it. The neighbour downstairs roasts coffee, so it always smells amazing."),
    (4, "Sam", "Did the dentist ever pay you?"),
    (4, "Nadia", "Finally, yes: the full two thousand one hundred pounds arrived last week."),
)


def chat_lines(chat: Sequence[tuple[int, str, str]] = CHAT) -> list[dict[str, Any]]:
    counters: dict[int, int] = {}
    lines = []
    for session, speaker, text in chat:
        counters[session] = counters.get(session, 0) + 1
        turn = f"D1:S{session}:{counters[session]}"
        lines.append(
            {
                "text": f"{speaker}: {text}",
                "occurred_at": SESSION_DATES[session].isoformat(),
                "metadata": {"turn": turn, "session": session, "speaker": speaker},
            }
        )
    return lines


async def import_lines(memory: MemoryService, workspace: str, lines: list[dict[str, Any]], tmp: Path) -> None:
    path = tmp / f"{workspace}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = await memory.import_jsonl(path, workspace=workspace)
    assert not report.problems


def distractors(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """Ordinary business memories, dated in 2024 (before the chat), in no session."""
    return [dict(item, occurred_at="2024-06-01T09:00:00+00:00") for item in filler(count, seed=seed)]


def turns(hits: Sequence[Any]) -> list[str | None]:
    return [hit.metadata.get("turn") for hit in hits]


async def test_a_memory_is_found_by_its_words_when_the_embedder_misses_it(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    # Sixty invoice memories are closer to the question in meaning than the one that answers it: the
    # vectors alone never reach it, but its rare word does.
    invoices = [
        {"text": f"Invoice for the {topic} work sent to client number {n}, payable in 30 days", "metadata": {}}
        for n, topic in enumerate(["logo", "website", "brochure", "poster", "menu", "signage"] * 10)
    ]
    answer = {
        "text": "Collected the Brunhilde kiln from the ceramics supplier; it fires at 1200 degrees",
        "metadata": {"turn": "kiln"},
    }
    await import_lines(memory, workspace, [*invoices, answer], tmp_path)

    hits = await memory.recall("which invoice was for the Brunhilde?", workspace=workspace, k=5)

    assert "kiln" in turns(hits)


async def test_a_turn_is_found_through_the_turn_before_it(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    # "the pottery class with Marguerite" is only in Sam's question; only Nadia's answer says how it went.
    await import_lines(memory, workspace, [*distractors(60), *chat_lines()], tmp_path)

    hits = await memory.recall("How did the pottery class with Marguerite go?", workspace=workspace, k=3)

    assert "D1:S1:4" in turns(hits)


async def test_a_reply_is_found_by_meaning_through_the_turn_it_answers(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    # Nadia's answer never says "pottery": only its vector, which carries Sam's question, can find
    # it with the words left out of the ranking.
    await import_lines(memory, workspace, [*distractors(60), *chat_lines()], tmp_path)

    hits = await memory.recall("how was the pottery evening class", workspace=workspace, k=2, mode="dense")

    assert "D1:S1:4" in turns(hits)


def test_only_a_line_said_in_the_same_exchange_counts_as_a_reply() -> None:
    at = SESSION_DATES[1]  # the linking compares lines' own stamps, never the clock

    def row(text: str, minutes: int, metadata: dict[str, Any] | None = None, dated: bool = True) -> dict[str, Any]:
        return {"text": text, "occurred_at": at + timedelta(minutes=minutes), "metadata": metadata, "dated": dated}

    def replies(rows: list[dict[str, Any]]) -> list[str]:
        links = Neighbours()
        linked = [done for item in rows for done in links.push(item)] + links.finish()
        return [embedded_text(item) for item in linked]

    assert replies([row("Which colour?", 0), row("The blue one.", 3)]) == [
        "Which colour?",
        "The blue one.\n(in reply to: Which colour?)",
    ]
    # a session links its turns whatever their stamps; notes hours apart, or undated, are not a chat
    assert replies([row("Q", 0, {"session": 2}), row("A", 300, {"session": 2})])[1] == "A\n(in reply to: Q)"
    assert replies([row("Note one", 0), row("Note two", 180)])[1] == "Note two"
    assert replies([row("Note one", 0, dated=False), row("Note two", 1, dated=False)])[1] == "Note two"
    assert replies([row("Q", 0, {"session": 1}), row("A", 1, {"session": 2})])[1] == "A"


async def test_remembered_memories_get_their_neighbours_as_context(memory: MemoryService, workspace: str) -> None:
    day = datetime(2025, 9, 3, 10, 0, tzinfo=UTC)
    others = ["Northwind", "Kestrel", "Lumen", "Pinecrest", "Quayside", "Oakridge", "Tidewater", "Saltmarsh"]
    for n, client in enumerate(others):
        await memory.remember(
            f"{client} wants the annual report as a short PDF with their new logo on the cover",
            layer="project",
            workspace=workspace,
            occurred_at=day - timedelta(days=n + 1),
        )
    await memory.remember(
        "Call with Brackenbury about the annual report layout", layer="project", workspace=workspace, occurred_at=day
    )
    answer = await memory.remember(
        "Printed on recycled paper, matte, 120 pages, proofs by Friday",
        layer="project",
        workspace=workspace,
        occurred_at=day + timedelta(minutes=20),
    )

    hits = await memory.recall("What does Brackenbury want?", workspace=workspace, k=2)

    assert answer.id in [hit.id for hit in hits]


async def test_a_question_naming_a_date_ranks_the_turn_of_that_day(
    memory: MemoryService, workspace: str, tmp_path: Path, clock_at: Callable[[datetime], None]
) -> None:
    clock_at(SESSION_DATES[4] + timedelta(days=10))  # "in March": the latest March before now, the history's
    await import_lines(memory, workspace, [*distractors(40), *chat_lines()], tmp_path)

    on_the_day = await memory.recall("What happened to Nadia on 7 May 2025?", workspace=workspace, k=3)
    in_march = await memory.recall("What did Nadia cook in March?", workspace=workspace, k=3)

    assert "D1:S3:2" in turns(on_the_day)  # the lease, signed that day
    # March's exchange about cooking leads: the answer, and the question it is embedded with
    assert "D1:S2:4" in turns(in_march)[:2]
    assert all(str(turn).startswith("D1:S2:") for turn in turns(in_march))


async def test_last_month_is_read_against_the_clock(
    memory: MemoryService, workspace: str, clock_at: Callable[[datetime], None]
) -> None:
    clock_at(datetime(2026, 6, 15, 12, 0, tzinfo=UTC))
    for text, when in (
        ("We decided to raise the day rate to 600 euros for new clients", datetime(2025, 11, 20, tzinfo=UTC)),
        ("We decided the day rate for new clients stays at 550 euros", datetime(2026, 1, 12, tzinfo=UTC)),
        ("Agreed with myself: 650 per day from July onwards", datetime(2026, 5, 18, tzinfo=UTC)),
        ("We decided to stop offering rush jobs on weekends", datetime(2026, 5, 2, tzinfo=UTC)),
    ):
        await memory.remember(text, layer="project", workspace=workspace, occurred_at=when)

    hits = await memory.recall("what did we decide about the day rate last month?", workspace=workspace, k=3)

    assert hits[0].text.startswith("Agreed with myself: 650")


async def test_a_question_about_two_clients_gets_a_memory_about_each(memory: MemoryService, workspace: str) -> None:
    for n, text in enumerate(
        [
            "Acme pays a day rate of 640 euros for the rebrand",
            "Acme asked whether the day rate covers travel days",
            "Acme's day rate for workshops is billed per half day",
            "Acme wants the day rate shown separately on every invoice",
            "Acme negotiated the day rate down for the second phase",
            "Acme's finance team approves day rate changes in January",
            "Acme pays the day rate within 14 days of the invoice",
            "Acme said the day rate is fine but wants weekly reports",
        ]
    ):
        await memory.remember(
            text, layer="project", workspace=workspace, occurred_at=datetime(2025, 4, n + 1, tzinfo=UTC)
        )
    globex = await memory.remember(
        "Globex settled on 580 a day for the app work", layer="project", workspace=workspace,
        occurred_at=datetime(2025, 2, 3, tzinfo=UTC),
    )  # fmt: skip

    hits = await memory.recall("What day rate do Acme and Globex pay?", workspace=workspace, k=5)

    assert globex.id in [hit.id for hit in hits]
    assert sum(hit.text.startswith("Acme") for hit in hits) == 4


async def test_identifiers_stay_exact(memory: MemoryService, workspace: str, tmp_path: Path) -> None:
    lines = [
        {"text": f"Invoice INV-2026-{n:04d} sent to Northwind for the spring campaign", "metadata": {"turn": str(n)}}
        for n in range(140, 160)
    ]
    await import_lines(memory, workspace, lines, tmp_path)

    hits = await memory.recall("has INV-2026-0142 been paid?", workspace=workspace, k=3)

    assert turns(hits)[0] == "142"


async def test_superseded_and_expired_memories_stay_out(memory: MemoryService, workspace: str) -> None:
    await memory.remember(
        "Lumen Dental's day rate is 500 euros",
        layer="project",
        workspace=workspace,
        subject="lumen rate",
        occurred_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    await memory.remember(
        "Lumen Dental's day rate is 620 euros",
        layer="project",
        workspace=workspace,
        subject="lumen rate",
        occurred_at=datetime(2025, 9, 1, tzinfo=UTC),
    )
    await memory.remember("Lumen Dental called about the day rate again", layer="working", workspace=workspace)
    memory.working_ttl, ttl = timedelta(seconds=-1), memory.working_ttl
    try:
        await memory.remember("Lumen Dental's day rate might go to 700 euros", layer="working", workspace=workspace)
    finally:
        memory.working_ttl = ttl

    for mode in ("hybrid", "text", "fusion", "dense"):
        texts = [hit.text for hit in await memory.recall("Lumen day rate", workspace=workspace, mode=mode)]  # type: ignore[arg-type]
        assert "Lumen Dental's day rate is 620 euros" in texts
        assert "Lumen Dental's day rate is 500 euros" not in texts
        assert "Lumen Dental's day rate might go to 700 euros" not in texts
