"""The Prometheus endpoint: real HTTP scrape, figures from the records and from the dispatcher."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.metrics import serve_metrics
from memory import Outgoing
from tests.bot.test_status import seed
from tests.support.chat import FakeChat


async def leads(app: App, workspace: str) -> None:
    """Two leads wrote two hours ago; one was answered 30 minutes later. A third sender (a newsletter)
    was not taken as a lead, so it counts neither way."""
    from datetime import UTC, datetime, timedelta

    from memory import NewMessage

    wrote = datetime.now(UTC) - timedelta(hours=2)
    await app.memory.messages.store(
        workspace,
        "owner@example.test",
        [
            NewMessage(f"<{n}@leads.test>", addr, wrote, subject="Can you help us?")
            for n, addr in enumerate(["ceo@newco.test", "ops@other.test", "news@letters.test"])
        ],
    )

    def answered() -> None:
        with app.memory.db.connection() as conn:
            for n, addr in enumerate(["ceo@newco.test", "ops@other.test"]):
                conn.execute(
                    """INSERT INTO intakes (workspace, source_ref, channel, name, email, first_seen_at, done_at)
                       VALUES (%s, %s, 'email', %s, %s, %s, now())""",
                    (workspace, f"email:<{n}@leads.test>", addr, addr, wrote),
                )
            conn.execute(
                """INSERT INTO outbox
                   (workspace, recipient, subject, body, status, idempotency_key, send_after, sent_at)
                   VALUES (%s, 'ceo@newco.test', 'Re: Can you help us?', 'Yes!', 'sent', %s, %s, %s)""",
                (workspace, f"{workspace}:lead", wrote, wrote + timedelta(minutes=30)),
            )

    await asyncio.to_thread(answered)


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_metrics_are_served_with_business_and_agent_figures(app: App, workspace: str) -> None:
    await seed(app, workspace)  # deliveries, approvals and spend (tests/bot/test_status.py)
    await FakeChat(app, workspace).say("remember that Acme pays net 30")
    await leads(app, workspace)
    await app.memory.replies.queue(workspace, [Outgoing("telegram:1", {"reply": {"text": "owed"}})])
    port = serve_metrics(app.memory, workspace, host="127.0.0.1", port=0)
    metrics = await asyncio.to_thread(scrape, port)
    assert all(name.startswith("soloos_") for name in metrics)
    runs = {
        (labels["kind"], labels["delivery_status"]): value for labels, value in metrics["soloos_scheduled_runs_total"]
    }
    assert runs[("reminder", "sent")] == 3 and runs[("reminder", "failed")] == 1 and runs[("briefing", "sent")] == 5
    assert metrics["soloos_briefings_on_time_total"] == [({}, 4.0)]
    approvals = {labels["status"]: value for labels, value in metrics["soloos_approvals"]}
    assert approvals == {"executed": 1.0, "denied": 1.0, "approved": 1.0}
    assert metrics["soloos_model_cost_usd_total"] == [({"agent": "coordinator", "tier": "strong"}, 2.5)]
    assert metrics["soloos_lead_response_seconds_median"] == [({}, 1800.0)]
    assert metrics["soloos_leads_unanswered"] == [({}, 1.0)]
    replies = {labels["state"]: value for labels, value in metrics["soloos_replies"]}
    assert replies == {"unsent": 1.0, "given_up": 0.0, "sent": 0.0}
    assert metrics["soloos_replies_resent_total"] == [({}, 0.0)]
    turns = [
        value for labels, value in metrics["soloos_turn_seconds_count"] if labels == {"path": "local", "outcome": "ok"}
    ]
    assert turns and turns[0] >= 1


async def test_model_latency_is_measured_per_agent_and_tier(with_model, workspace: str) -> None:  # type: ignore[no-untyped-def]
    from tests.support.models import Script, say

    app = with_model(Script([say("Nothing to do today.")]))
    await FakeChat(app, workspace).say("look through everything and tell me what matters today")
    port = serve_metrics(app.memory, workspace, host="127.0.0.1", port=0)
    metrics = await asyncio.to_thread(scrape, port)
    counts = {labels["agent"]: value for labels, value in metrics["soloos_model_request_seconds_count"]}
    assert counts.get("coordinator", 0) >= 1
