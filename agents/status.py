"""``soloos status`` and ``/status``: service levels over the last 7 and 30 days against the
operator's targets, from the records (delivery log, approvals, spend ledger)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import timedelta

from agents.models import Budget
from memory import MemoryService, Ratio

WINDOWS = (7, 30)


@dataclass(frozen=True)
class SloTargets:
    briefings_on_time: float = 0.99
    reminders_delivered: float = 0.99
    approvals_clean: float = 0.99
    budget_overshoot_days: int = 0


@dataclass(frozen=True)
class Status:
    text: str
    chart_png: bytes | None
    met: bool


def _ratio(ratio: Ratio) -> str:
    return "no data" if ratio.share is None else f"{ratio.share:.1%} ({ratio.good}/{ratio.total})"


def _meets(ratio: Ratio, target: float) -> bool:
    return ratio.share is None or ratio.share >= target


async def assemble(
    memory: MemoryService, *, workspace: str, budget: Budget, targets: SloTargets, chart: bool = True
) -> Status:
    now = memory.clock.now()
    figures = await asyncio.gather(
        *(
            memory.reliability.figures(workspace, since=now - timedelta(days=days), daily_cap=budget.daily)
            for days in WINDOWS
        )
    )
    rows = [
        ("Briefings on time", targets.briefings_on_time, [f.briefings_on_time for f in figures]),
        ("Reminders delivered", targets.reminders_delivered, [f.reminders_delivered for f in figures]),
        ("Approvals resolved or expired cleanly", targets.approvals_clean, [f.approvals_clean for f in figures]),
    ]
    lines = ["*Service levels* (last 7 days · last 30 days · target)"]
    met = True
    for name, target, ratios in rows:
        ok = all(_meets(r, target) for r in ratios)
        met &= ok
        lines.append(f"- {name}: {_ratio(ratios[0])} · {_ratio(ratios[1])} · ≥{target:.0%} {'✓' if ok else '✗ MISSED'}")
    overshoots = [f.budget_overshoot_days for f in figures]
    ok = all(days <= targets.budget_overshoot_days for days in overshoots)
    met &= ok
    lines.append(
        f"- Days over the ${budget.daily:.2f} daily budget: {overshoots[0]} · {overshoots[1]} · "
        f"≤{targets.budget_overshoot_days} {'✓' if ok else '✗ MISSED'}"
    )
    median = figures[1].approval_minutes_median
    if median is not None:
        took = "under a minute" if median < 1 else f"{median:.0f} minutes"
        lines.append(f"Approvals are decided in {took} (median, 30 days).")
    png = await asyncio.to_thread(_chart, rows, targets) if chart else None
    return Status("\n".join(lines), png, met)


def _chart(rows: list[tuple[str, float, list[Ratio]]], targets: SloTargets) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 2.2), dpi=100)
    axis = figure.add_subplot()
    names = [name for name, _, _ in rows]
    for offset, (window, colour) in enumerate(zip(WINDOWS, ("#4c78a8", "#9ecae9"), strict=True)):
        shares = [100 * (ratios[offset].share or 0.0) for _, _, ratios in rows]
        axis.barh([n + offset * 0.4 for n in range(len(rows))], shares, height=0.4, color=colour, label=f"{window} d")
    for n, (_, target, _) in enumerate(rows):
        axis.plot([100 * target] * 2, [n - 0.2, n + 0.6], color="#e45756")
    axis.set_yticks([n + 0.2 for n in range(len(rows))], names, fontsize=7)
    axis.set_xlim(0, 100)
    axis.set_xlabel("% (red: target)", fontsize=7)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
