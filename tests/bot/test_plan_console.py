"""Issue #7's "done when", as a user runs it: in the console with a scripted model, an objective
becomes an approved plan, agent steps run and report, a failing step retries and then comes to the
operator, and the briefing shows the plan's progress."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.plan_models import objective
from tests.support.processes import env_for


class Reader:
    """Lines of a process's stdout, read in a thread so the test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.lines.put(line)

    def until(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return "".join(self.seen)
        raise AssertionError(f"{text!r} never appeared; output so far:\n{''.join(self.seen)}")


def test_an_objective_becomes_an_approved_plan_that_runs_retries_escalates_and_shows_in_the_briefing(
    tmp_path: Path,
) -> None:
    env = env_for(tmp_path, SOLOOS_PLAN_POLL_SECONDS="0.5", SOLOOS_PLAN_RETRY_SECONDS="0.5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.scripted_plan_chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdin is not None
    out = Reader(proc)

    def say(line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    try:
        say(f"/objective {objective()}")
        shown = out.until("Nothing runs until you approve")
        assert "Plan #1: Land 3 new retainer clients" in shown and "Research 20 agencies that fit" in shown
        out.until("[1] Approve plan")
        say("1")  # the first button
        assert "Plan #1 approved" in out.until("approved")
        reports = out.until("It is now your task")
        assert "✓ Research 20 agencies that fit (research): 20 agencies that fit" in reports
        assert "✗ Rank the prospects by fit (finance) failed, attempt 1 of 3" in reports
        assert "⚠ Rank the prospects by fit: the finance agent failed 3 times" in reports
        say("/brief")
        briefing = out.until("Plans: 1 open.")
        briefing += out.until("#1 Land 3 new retainer clients")
        assert "1/4 done" in briefing and "for you" in briefing
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode in (0, 1), proc.stderr.read() if proc.stderr else ""


def test_a_step_cut_off_by_kill_9_resumes_from_its_checkpoint_in_the_next_process(tmp_path: Path) -> None:
    marker = tmp_path / "research-stalled"
    env = env_for(tmp_path, SOLOOS_PLAN_POLL_SECONDS="0.5", SOLOOS_PLAN_RETRY_SECONDS="0.5")

    def start(**extra: str) -> tuple[subprocess.Popen[str], Reader]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.scripted_plan_chat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, **extra},
            cwd=Path(__file__).resolve().parents[2],
        )
        return proc, Reader(proc)

    first, out = start(SOLOOS_DEMO_SLOW_RESEARCH="120", SOLOOS_DEMO_MARKER=str(marker))
    assert first.stdin is not None
    first.stdin.write(f"/objective {objective()}\n")
    first.stdin.flush()
    out.until("[1] Approve plan")
    first.stdin.write("1\n")
    first.stdin.flush()
    deadline = time.monotonic() + 60
    while not marker.exists():  # the research step searched, saved its checkpoint, and now stalls
        assert time.monotonic() < deadline, "".join(out.seen)
        time.sleep(0.2)
    first.kill()  # kill -9, mid-step
    first.wait(timeout=30)
    assert not any("✓ Research" in line for line in out.seen)

    second, out = start()
    assert second.stdin is not None
    try:
        report = out.until("✓ Research 20 agencies that fit")
        assert "resumed from the checkpoint: the search was not repeated" in report
        second.stdin.write("/plan 1\n")
        second.stdin.flush()
        shown = out.until("Progress:")
        assert "✓ 1. Research 20 agencies that fit" in shown
    finally:
        second.stdin.close()
        second.wait(timeout=60)
    assert sum("✓ Research" in line for line in out.seen) == 1
