"""Prometheus metrics (``soloos run --metrics-port PORT``), every name prefixed ``soloos_``.

Business and agent totals are read from the records at scrape time (spend ledger, approvals,
delivery log, invoices, transactions, connector health), so every replica reports the same
figures and a restart loses nothing. Turn latency is measured in process by the dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agents.models import MODEL_FAILURES, MODEL_SECONDS
from agents.plan_views import MINUTES_SAVED

if TYPE_CHECKING:
    from memory import MemoryService

log = logging.getLogger(__name__)

TURN_SECONDS = Histogram(
    "soloos_turn_seconds",
    "Time to answer one chat message, by how it was answered (local tier or model) and outcome",
    ["path", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=None,  # registered by serve_metrics
)


class RecordsCollector:
    """Metrics computed from the database of one workspace when Prometheus scrapes."""

    def __init__(self, memory: MemoryService, workspace: str) -> None:
        self.memory = memory
        self.workspace = workspace

    def collect(self) -> Iterator[Metric]:
        try:
            with self.memory.db.connection() as conn:
                yield from self._model(conn)
                yield from self._approvals(conn)
                yield from self._deliveries(conn)
                yield from self._replies(conn)
                yield from self._money(conn)
                yield from self._leads(conn)
                yield from self._plans(conn)
                yield from self._connectors(conn)
        except Exception as err:  # a scrape must not crash the server; the gap shows in Prometheus
            log.warning("metrics scrape failed: %s", err)

    def _rows(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql.encode(), (self.workspace,)).fetchall())

    def _model(self, conn: Any) -> Iterator[Metric]:
        requests = CounterMetricFamily("soloos_model_requests", "Model requests", labels=["agent", "tier", "cached"])
        tokens = CounterMetricFamily("soloos_model_tokens", "Model tokens", labels=["agent", "tier", "direction"])
        cost = CounterMetricFamily("soloos_model_cost_usd", "Model spend in USD", labels=["agent", "tier"])
        for agent, tier, cached, count, tokens_in, tokens_out, spent in self._rows(
            conn,
            """SELECT agent, tier, cached, count(*), sum(input_tokens), sum(output_tokens), sum(cost)
               FROM spend_ledger WHERE workspace = %s GROUP BY 1, 2, 3""",
        ):
            requests.add_metric([agent, tier, str(cached).lower()], count)
            tokens.add_metric([agent, tier, "input"], tokens_in or 0)
            tokens.add_metric([agent, tier, "output"], tokens_out or 0)
            cost.add_metric([agent, tier], float(spent or 0))
        yield from (requests, tokens, cost)

    def _approvals(self, conn: Any) -> Iterator[Metric]:
        by_status = GaugeMetricFamily("soloos_approvals", "Approvals by status", labels=["status"])
        decided = GaugeMetricFamily(
            "soloos_approval_decision_seconds_median", "Median time from request to the operator's decision"
        )
        for status, count in self._rows(conn, "SELECT status, count(*) FROM approvals WHERE workspace = %s GROUP BY 1"):
            by_status.add_metric([status], count)
        [(median,)] = self._rows(
            conn,
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - requested_at))
               FROM approvals WHERE workspace = %s AND decided_at IS NOT NULL""",
        )
        decided.add_metric([], float(median or 0))
        yield from (by_status, decided)

    def _replies(self, conn: Any) -> Iterator[Metric]:
        """What the chat channels owe: replies by state, and sends that may have repeated one cut off
        by a crash (at least once means sometimes twice; this counts how often)."""
        replies = GaugeMetricFamily("soloos_replies", "Chat replies in the channel outbox by state", labels=["state"])
        resent = CounterMetricFamily(
            "soloos_replies_resent", "Reply sends that may have repeated one cut off by a crash"
        )
        for unsent, given_up, sent, again in self._rows(
            conn,
            """SELECT count(*) FILTER (WHERE sent_at IS NULL AND given_up_at IS NULL),
                      count(*) FILTER (WHERE given_up_at IS NOT NULL), count(*) FILTER (WHERE sent_at IS NOT NULL),
                      coalesce(sum(resent), 0) FROM channel_outbox WHERE workspace = %s""",
        ):
            replies.add_metric(["unsent"], unsent)
            replies.add_metric(["given_up"], given_up)
            replies.add_metric(["sent"], sent)
            resent.add_metric([], again)
        yield from (replies, resent)

    def _deliveries(self, conn: Any) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "soloos_scheduled_runs",
            "Reminder, briefing and notice runs by job and delivery status",
            labels=["kind", "job_status", "delivery_status"],
        )
        on_time = CounterMetricFamily("soloos_briefings_on_time", "Briefings sent within 5 minutes of their time")
        for kind, job, delivery, count in self._rows(
            conn,
            """SELECT s.kind, d.job_status, d.delivery_status, count(*) FROM deliveries d
               JOIN schedules s ON s.id = d.schedule_id WHERE d.workspace = %s GROUP BY 1, 2, 3""",
        ):
            runs.add_metric([kind, job, delivery], count)
        [(count,)] = self._rows(
            conn,
            """SELECT count(*) FROM deliveries d JOIN schedules s ON s.id = d.schedule_id
               WHERE d.workspace = %s AND s.kind = 'briefing' AND d.delivery_status = 'sent'
               AND d.sent_at - d.fire_at <= interval '5 minutes'""",
        )
        on_time.add_metric([], count)
        yield from (runs, on_time)

    def _money(self, conn: Any) -> Iterator[Metric]:
        invoices = GaugeMetricFamily("soloos_invoices", "Invoices by status", labels=["status"])
        transactions = CounterMetricFamily(
            "soloos_transactions_imported", "Bank transactions imported, by reconciliation", labels=["match_status"]
        )
        for status, count in self._rows(conn, "SELECT status, count(*) FROM invoices WHERE workspace = %s GROUP BY 1"):
            invoices.add_metric([status], count)
        for status, count in self._rows(
            conn, "SELECT match_status, count(*) FROM transactions WHERE workspace = %s GROUP BY 1"
        ):
            transactions.add_metric([status], count)
        yield from (invoices, transactions)

    def _leads(self, conn: Any) -> Iterator[Metric]:
        """Lead response time: from a lead's arrival (client intake) to the first e-mail sent to them,
        the same figure ``/leads`` shows."""
        median = GaugeMetricFamily(
            "soloos_lead_response_seconds_median", "Median time from a lead's arrival to our first reply sent"
        )
        unanswered = GaugeMetricFamily("soloos_leads_unanswered", "Leads with no reply sent yet")
        [(seconds, waiting)] = self._rows(
            conn,
            """WITH answered AS (
                   SELECT coalesce(i.replied_at, min(o.sent_at)) - i.first_seen_at AS took
                   FROM intakes i LEFT JOIN outbox o ON o.workspace = i.workspace
                        AND lower(o.recipient) = lower(i.email) AND o.status = 'sent' AND o.sent_at >= i.first_seen_at
                   WHERE i.workspace = %s GROUP BY i.id, i.replied_at, i.first_seen_at)
               SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM took))
                          FILTER (WHERE took IS NOT NULL),
                      count(*) FILTER (WHERE took IS NULL)
               FROM answered""",
        )
        median.add_metric([], float(seconds or 0))
        unanswered.add_metric([], waiting)
        yield from (median, unanswered)

    def _plans(self, conn: Any) -> Iterator[Metric]:
        """Per open objective: steps by status, steps overdue, and the estimated time saved (D24)."""
        steps = GaugeMetricFamily("soloos_plan_steps", "Plan steps by status", labels=["objective", "status"])
        overdue = GaugeMetricFamily(
            "soloos_plan_steps_overdue", "Open plan steps past their due date", labels=["objective"]
        )
        saved = GaugeMetricFamily(
            "soloos_plan_minutes_saved_estimate",
            "Estimated operator minutes saved by agent steps",
            labels=["objective"],
        )
        minutes = " ".join(f"WHEN '{owner}' THEN {m}" for owner, m in MINUTES_SAVED.items())
        late_by: dict[str, int] = {}
        saved_by: dict[str, int] = {}
        for objective, status, count, late, mins in self._rows(
            conn,
            f"""SELECT o.id, p.status, count(*),
                       count(*) FILTER (WHERE p.due_on < current_date AND p.status NOT IN ('done', 'cancelled')),
                       coalesce(sum(CASE WHEN p.status = 'done' AND p.task_id IS NULL
                                         THEN CASE p.owner {minutes} ELSE 0 END END), 0)
                FROM objectives o JOIN plan_tasks p ON p.objective_id = o.id
                WHERE o.workspace = %s AND o.status IN ('draft', 'active')
                GROUP BY o.id, p.status""",
        ):
            steps.add_metric([str(objective), status], count)
            late_by[str(objective)] = late_by.get(str(objective), 0) + late
            saved_by[str(objective)] = saved_by.get(str(objective), 0) + mins
        for objective, late in late_by.items():
            overdue.add_metric([objective], late)
            saved.add_metric([objective], saved_by[objective])
        yield from (steps, overdue, saved)

    def _connectors(self, conn: Any) -> Iterator[Metric]:
        healthy = GaugeMetricFamily(
            "soloos_connector_healthy", "1 when the connector's last check passed", labels=["name"]
        )
        for name, ok in self._rows(conn, "SELECT name, healthy FROM connector_configs WHERE workspace = %s"):
            healthy.add_metric([name], 1 if ok else 0)
        yield healthy


def serve_metrics(memory: MemoryService, workspace: str, *, host: str, port: int) -> int:
    """Start the /metrics endpoint in a background thread; returns the port it listens on."""
    registry = CollectorRegistry()
    for in_process in (TURN_SECONDS, MODEL_SECONDS, MODEL_FAILURES):
        registry.register(in_process)
    registry.register(RecordsCollector(memory, workspace))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)
