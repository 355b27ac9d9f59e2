"""The memory API on the real embedded Postgres + pgvector."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.settings import Settings
from memory import InvalidMemory, MemoryService, NotFound


async def test_recall_finds_by_meaning_and_by_exact_words(memory: MemoryService, workspace: str) -> None:
    await memory.remember("Acme Corp pays its invoices 30 days after receipt", layer="project", workspace=workspace)
    await memory.remember("Invoice INV-2291 went to Globex for the logo work", layer="project", workspace=workspace)
    await memory.remember("Lunch with the accountant on Thursday", layer="working", workspace=workspace)

    by_meaning = await memory.recall("how long does Acme take to settle a bill?", workspace=workspace, k=1)
    assert by_meaning[0].text.startswith("Acme Corp pays")

    by_code = await memory.recall("INV-2291", workspace=workspace, k=1)
    assert "INV-2291" in by_code[0].text
    assert by_code[0].layer == "project" and by_code[0].score > 0


async def test_layers_and_time_filters(memory: MemoryService, workspace: str) -> None:
    old = datetime(2026, 1, 10, tzinfo=UTC)
    new = datetime(2026, 6, 10, tzinfo=UTC)
    await memory.remember(
        "Quote sent to Initech for the website", layer="project", workspace=workspace, occurred_at=old
    )
    await memory.remember("Quote accepted by Initech", layer="project", workspace=workspace, occurred_at=new)
    await memory.remember("Rule: every quote expires after 30 days", layer="institutional", workspace=workspace)

    rules = await memory.recall("quote", workspace=workspace, layers=["institutional"])
    assert [h.layer for h in rules] == ["institutional"]

    spring = await memory.recall(
        "Initech quote",
        workspace=workspace,
        since=datetime(2026, 3, 1, tzinfo=UTC),
        until=datetime(2026, 12, 1, tzinfo=UTC),
    )
    texts = [h.text for h in spring]
    assert "Quote accepted by Initech" in texts and "Quote sent to Initech for the website" not in texts


async def test_newer_fact_on_same_subject_wins_and_older_stays_in_history(
    memory: MemoryService, workspace: str
) -> None:
    first = await memory.remember(
        "Acme's day rate is 800 EUR",
        layer="project",
        workspace=workspace,
        subject="Acme day rate",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    second = await memory.remember(
        "Acme's day rate is 900 EUR",
        layer="project",
        workspace=workspace,
        subject="acme  day rate",
        occurred_at=datetime(2026, 9, 1, tzinfo=UTC),
    )
    assert second.replaces == ("Acme's day rate is 800 EUR",)

    hits = await memory.recall("Acme day rate", workspace=workspace)
    assert [h.text for h in hits] == ["Acme's day rate is 900 EUR"]

    history = await memory.list(workspace, include_history=True)
    current = {i.id: i.current for i in history}
    assert current == {first.id: False, second.id: True}

    # Importing an older fact later does not override the newer one.
    late_old = await memory.remember(
        "Acme's day rate is 700 EUR",
        layer="project",
        workspace=workspace,
        subject="acme day rate",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert late_old.current is False
    assert [h.text for h in await memory.recall("Acme day rate", workspace=workspace)] == ["Acme's day rate is 900 EUR"]

    # Forgetting the newest brings the previous fact back.
    await memory.forget(second.id)
    assert [h.text for h in await memory.recall("Acme day rate", workspace=workspace)] == ["Acme's day rate is 800 EUR"]


async def test_duplicate_keeps_the_original(memory: MemoryService, workspace: str) -> None:
    original = await memory.remember(
        "Globex prefers invoices in USD", layer="project", workspace=workspace, metadata={"from": "call"}
    )
    again = await memory.remember("  globex prefers invoices   in USD ", layer="project", workspace=workspace)
    assert again.duplicate and again.id == original.id
    items = await memory.list(workspace)
    assert len(items) == 1 and items[0].metadata == {"from": "call"}


async def test_workspaces_are_isolated(memory: MemoryService, workspace: str) -> None:
    other = workspace + "-other"
    await memory.remember("Secret pricing for Umbrella", layer="project", workspace=other)
    assert await memory.recall("Umbrella pricing", workspace=workspace) == []
    item = (await memory.list(other))[0]
    with pytest.raises(NotFound):
        await memory.forget(item.id, workspace=workspace)
    assert len(await memory.list(other)) == 1


async def test_working_memory_expires(memory: MemoryService, workspace: str) -> None:
    item = await memory.remember("Currently drafting the Acme proposal", layer="working", workspace=workspace)
    assert (await memory.recall("Acme proposal", workspace=workspace))[0].id == item.id
    with memory.db.connection() as conn:
        conn.execute("UPDATE memories SET expires_at = now() - interval '1 minute' WHERE id = %s", (item.id,))
    assert await memory.recall("Acme proposal", workspace=workspace) == []


async def test_working_memory_expires_when_the_clock_passes_its_lifetime(
    memory: MemoryService, workspace: str, clock_at: Callable[[datetime], None]
) -> None:
    """Expiry is computed from the clock and compared with the clock, so moving the clock expires it."""
    item = await memory.remember("Waiting for the courier from Globex", layer="working", workspace=workspace)
    assert [i.id for i in await memory.list(workspace, include_history=False)] == [item.id]
    clock_at(memory.clock.now() + memory.working_ttl + timedelta(minutes=1))
    assert await memory.list(workspace, include_history=False) == []
    assert await memory.recall("courier", workspace=workspace) == []


async def test_forget_by_id_prefix_and_unknown_ids(memory: MemoryService, workspace: str) -> None:
    item = await memory.remember("Temporary note", layer="project", workspace=workspace)
    forgotten = await memory.forget(item.short_id, workspace=workspace)
    assert forgotten.id == item.id
    assert await memory.list(workspace) == []
    with pytest.raises(NotFound):
        await memory.forget(item.id)
    with pytest.raises(InvalidMemory):
        await memory.forget("not-an-id; DROP TABLE memories")


@pytest.mark.parametrize(
    ("text", "layer", "message"),
    [
        ("", "project", "empty"),
        ("   \n\t ", "project", "empty"),
        ("x" * 1_000_000, "project", "limit"),
        ("fine", "semantic", "unknown layer"),
        ("nul \x00 byte", "project", "NUL"),
    ],
)
async def test_bad_input_is_refused_clearly(
    memory: MemoryService, workspace: str, text: str, layer: str, message: str
) -> None:
    with pytest.raises(InvalidMemory, match=message):
        await memory.remember(text, layer=layer, workspace=workspace)  # type: ignore[arg-type]
    assert await memory.list(workspace) == []


async def test_recall_rejects_empty_query(memory: MemoryService, workspace: str) -> None:
    with pytest.raises(InvalidMemory):
        await memory.recall("  ", workspace=workspace)


async def test_import_keeps_good_lines_and_reports_bad_ones(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    lines = [
        json.dumps(
            {
                "text": "Kickoff call with Hooli went well",
                "layer": "project",
                "occurred_at": "2026-02-01T10:00:00+00:00",
                "metadata": {"kind": "meeting"},
            }
        ).encode(),
        b'{"text": "broken json", ',
        b'{"text": "caf\xe9 invalid utf-8"}',
        json.dumps({"text": "We never take fixed-price work under 2k", "layer": "institutional"}).encode(),
        json.dumps({"text": "wrong layer", "layer": "episodic"}).encode(),
        json.dumps({"layer": "project"}).encode(),
        json.dumps({"text": "bad date", "occurred_at": "last tuesday-ish"}).encode(),
        b"",
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps({"text": "Kickoff call with Hooli went well", "layer": "project"}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    seen: list[int] = []

    report = await memory.import_jsonl(path, workspace=workspace, progress=seen.append)

    assert report.imported == 2 and report.duplicates == 1
    bad = {p.line: p.message for p in report.problems}
    assert sorted(bad) == [2, 3, 5, 6, 7, 9]
    assert "invalid JSON" in bad[2] and "UTF-8" in bad[3] and "layer" in bad[5]
    assert "text" in bad[6] and "ISO 8601" in bad[7] and "object" in bad[9]
    assert seen and seen[-1] == 10
    hooli = await memory.recall("Hooli kickoff", workspace=workspace, k=1)
    assert hooli[0].metadata == {"kind": "meeting"}
    assert hooli[0].occurred_at == datetime(2026, 2, 1, 10, tzinfo=UTC)


async def test_export_then_import_round_trips(memory: MemoryService, workspace: str, tmp_path: Path) -> None:
    when = datetime.now(UTC) - timedelta(days=40)
    await memory.remember(
        "Initech's VAT id is DE123",
        layer="project",
        workspace=workspace,
        subject="initech vat id",
        occurred_at=when,
        metadata={"k": 1},
    )
    await memory.remember("Reply to leads within a day", layer="institutional", workspace=workspace)
    exported = await memory.export(workspace)
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(exported) + "\n", encoding="utf-8")

    target = workspace + "-copy"
    report = await memory.import_jsonl(path, workspace=target)
    assert report.imported == 2 and report.ok
    copied = {i.text: i for i in await memory.list(target)}
    assert copied["Initech's VAT id is DE123"].subject == "initech vat id"
    assert copied["Initech's VAT id is DE123"].metadata == {"k": 1}
    assert copied["Reply to leads within a day"].layer == "institutional"


async def test_an_import_leaves_the_full_text_index_merged(
    memory: MemoryService, workspace: str, tmp_path: Path
) -> None:
    """Rows inserted wait in the GIN index's pending list, which every recall scans row by row: an
    import merges it before it returns, so recall right after a large import is not slowed down."""
    path = tmp_path / "many.jsonl"
    lines = [json.dumps({"text": f"Call note {i}: the client asked about milestone {i}"}) for i in range(300)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await memory.import_jsonl(path, workspace=workspace)
    assert report.imported == 300
    with memory.db.connection() as conn:
        row = conn.execute("SELECT gin_clean_pending_list('memories_tsv'::regclass)").fetchone()
    assert row == (0,)  # nothing left to merge


async def test_what_the_embedder_loaded_is_kept_out_of_full_collections(memory: MemoryService) -> None:
    """Once the model is loaded, the process's long-lived objects are frozen, so a full garbage
    collection in the middle of a recall does not walk torch and every library again."""
    import gc

    memory.embedder.embed("warm up")
    assert gc.get_freeze_count() > 10_000


async def test_an_import_embeds_in_bfloat16_where_the_cpu_does_it_natively(
    memory: MemoryService, settings: Settings
) -> None:
    """Bulk lists (imports) run in bfloat16 on a CPU that computes it in hardware, 2.5× faster here;
    their vectors must still be the float32 ones to within rounding, or recall would drift between
    imported and remembered memories. ``SOLOOS_EMBEDDER_BFLOAT16=false`` keeps float32."""
    import numpy as np

    from memory._embedder import Embedder, _native_bfloat16

    texts = [f"Call note {i}: Acme asked to move milestone {i} to the spring" for i in range(40)]
    exact = Embedder(settings.model_copy(update={"embedder_bfloat16": False}))
    try:
        assert exact.bulk_precision == "float32"
        reference = np.asarray(exact.embed_many(texts))
    finally:
        exact.close()
    bulk = np.asarray(memory.embedder.embed_many(texts))
    assert memory.embedder.bulk_precision == ("bfloat16" if _native_bfloat16() else "float32")
    if memory.embedder.bulk_precision == "bfloat16":
        assert not np.array_equal(bulk, reference)  # computed another way…
    assert (bulk * reference).sum(axis=1).min() > 0.999  # …to the same vectors


async def test_mem0_pgvector_store_reads_the_same_rows(memory: MemoryService, workspace: str) -> None:
    """The table is mem0's pgvector collection shape: mem0's own store finds what we wrote."""
    from mem0.vector_stores.pgvector import PGVector

    item = await memory.remember("Hooli's office is in Palo Alto", layer="project", workspace=workspace)
    store = PGVector(
        dbname="",
        collection_name="memories",
        embedding_model_dims=384,
        user=None,
        password=None,
        host=None,
        port=None,
        diskann=False,
        hnsw=True,
        # Its own pool: mem0's store closes the pool it holds when it is garbage-collected.
        connection_string=memory.db.target.conninfo,
    )
    vector = memory.embedder.embed("Where is Hooli located?")
    store.connection_pool.wait(timeout=10)
    results = store.search("Where is Hooli located?", vector, top_k=1, filters={"user_id": workspace})
    assert results and str(results[0].id) == str(item.id)
    assert results[0].payload["data"] == "Hooli's office is in Palo Alto"


async def test_a_notice_goes_where_the_operator_talked_last_and_is_cut_to_the_limit(memory, workspace: str) -> None:  # type: ignore[no-untyped-def]
    await memory.conversations.complete(
        "k-notice-1", workspace=workspace, conversation="nochannel:42", operator_text="hi", reply={"text": "hello"}
    )

    long = await memory.schedules.notice(
        workspace=workspace, operator="sam", body="x" * 3000, timezone="UTC", more="(/plan 3 shows all)"
    )
    short = await memory.schedules.notice(
        workspace=workspace, operator="sam", body="line one\nline two", timezone="UTC", conversation="nochannel:C1"
    )

    # (a channel no test serves, so these never fire into another test's fake Telegram or Slack)
    assert long.conversation == "nochannel:42" and long.kind == "notice"
    assert len(long.body) == 1000 and long.body.endswith("…\n(/plan 3 shows all)")
    assert short.conversation == "nochannel:C1" and short.body == "line one\nline two"  # a notice keeps its lines
