"""Every "now" and "today" in SoloOS is read from ``memory.Clock``, so a test (or CI's moved-clock
runs) can set the time for all of it at once."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine

from memory import Clock

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "agents", "memory", "connectors", "policies")
WALL_CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


def _wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if (name, node.func.attr) in WALL_CLOCK:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_only_the_clock_reads_the_wall_clock() -> None:
    reads = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "memory" / "clock.py"
        for hit in _wall_clock_reads(path)
    ]
    assert reads == [], "read the time from memory.Clock (e.g. memory.clock.now()) instead:\n" + "\n".join(reads)


def test_the_clock_can_be_set_and_knows_the_operators_day() -> None:
    # 23:30 in Berlin on the last day of a month is already the next month in Tokyo and still it in UTC
    with time_machine.travel(datetime(2027, 3, 31, 23, 30, tzinfo=ZoneInfo("Europe/Berlin")), tick=False):
        clock = Clock()
        assert clock.now() == datetime(2027, 3, 31, 21, 30, tzinfo=UTC)
        assert clock.today("Europe/Berlin").isoformat() == "2027-03-31"
        assert clock.today("Asia/Tokyo").isoformat() == "2027-04-01"
        assert clock.today().isoformat() == "2027-03-31"
        assert clock.local("Europe/Berlin").hour == 23
