"""The console as a user runs it: real processes, the embedded server shared and recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.support.processes import SOLOOS, chat, env_for, start_chat


def _server_pid(home: Path) -> int | None:
    pidfile = home / "pgdata" / "postmaster.pid"
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text().split()[0])
    return pid if psutil.pid_exists(pid) else None


def test_memory_written_in_one_process_is_recalled_in_the_next(tmp_path: Path) -> None:
    first = chat(tmp_path, ["remember that Acme pays invoices net 30", "add task send Acme the Q3 invoice"])
    assert first.returncode == 0, first.stderr
    replies = first.stdout.splitlines()
    assert replies[0].startswith("Noted that: Acme pays invoices net 30")
    assert replies[1].startswith("Added task #1: send Acme the Q3 invoice")

    second = chat(tmp_path, ["what do you know about Acme?", "tasks"])
    assert second.returncode == 0, second.stderr
    assert "Acme pays invoices net 30" in second.stdout
    assert "send Acme the Q3 invoice" in second.stdout
    assert _server_pid(tmp_path) is None, "the last process should stop the embedded server"


def test_two_processes_at_once_share_one_server(tmp_path: Path) -> None:
    procs = [start_chat(tmp_path) for _ in range(2)]
    outputs = []
    for number, proc in enumerate(procs):
        out, err = proc.communicate(f"remember that fact number {number} is true\n", timeout=180)
        assert proc.returncode == 0, err
        outputs.append(out)
    assert all("Noted that" in out for out in outputs)
    check = chat(tmp_path, ["show my memories"])
    assert "fact number 0" in check.stdout and "fact number 1" in check.stdout


def _remember_in_running_chat(home: Path, fact: str) -> tuple[subprocess.Popen[str], int]:
    """A chat process that has stored ``fact`` and is still running; returns it and the server pid."""
    proc = start_chat(home)
    assert proc.stdin and proc.stdout
    proc.stdin.write(f"remember that {fact}\n")
    proc.stdin.flush()
    assert "Noted that" in proc.stdout.readline()
    server = _server_pid(home)
    assert server is not None
    return proc, server


def test_survives_kill_9_of_the_app_and_of_the_server(tmp_path: Path) -> None:
    proc, _ = _remember_in_running_chat(tmp_path, "the office wifi password is on the fridge")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    # The server the dead process left running is reused, and stopped by the next one's exit.
    again = chat(tmp_path, ["what do you know about the wifi?"])
    assert "fridge" in again.stdout, again.stderr
    assert _server_pid(tmp_path) is None

    # Now a crash of everything: app and postgres killed, a stale postmaster.pid left behind.
    proc, server = _remember_in_running_chat(tmp_path, "the spare key is with Jane")
    os.kill(server, signal.SIGKILL)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for _ in range(50):
        if not psutil.pid_exists(server):
            break
        time.sleep(0.1)
    assert (tmp_path / "pgdata" / "postmaster.pid").exists()

    recovered = chat(tmp_path, ["what do you know about the spare key?", "what about the wifi"])
    assert recovered.returncode == 0, recovered.stderr
    assert "Jane" in recovered.stdout and "fridge" in recovered.stdout


def test_invalid_utf8_and_huge_lines_in_piped_input(tmp_path: Path) -> None:
    data = (
        b"remember that good line one\n\xff\xfe bad bytes\n"
        + b"x" * 1_000_000
        + b"\nwhat do you know about good line\n"
    )
    result = subprocess.run(
        [SOLOOS, "chat"],
        input=data,
        capture_output=True,
        env=env_for(tmp_path),
        timeout=180,
    )
    replies = result.stdout.decode().splitlines()
    assert replies[0].startswith("Noted that")
    assert "not valid UTF-8" in replies[1]
    assert "1,000,000 characters" in replies[2]
    assert replies[3] == "What I know about good line:"
    assert "good line one" in replies[4]
    assert result.returncode == 1  # some lines failed; the good ones were kept


def test_pending_approval_survives_kill_9_and_executes_once(tmp_path: Path) -> None:
    """ "draft … and send it" with a (scripted) model, kill -9 before approving, approve after restart."""
    import re
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.scripted_chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp_path),
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write("draft a reminder email to Acme about invoice 42 and send it\n")
    proc.stdin.flush()
    seen = []
    while not seen or not seen[-1].startswith("[1] Approve"):
        line = proc.stdout.readline()
        assert line, "".join(seen) + (proc.stderr.read() if proc.stderr else "")
        seen.append(line)
    text = "".join(seen)
    assert "I need your approval" in text and "What could go wrong" in text
    code = re.search(r"Code (\S+), expires", text)
    assert code
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    # a typed code shows the action again; the numbered choice (a press) executes it
    after = chat(tmp_path, ["/approvals", f"approve {code.group(1)}", "1", f"approve {code.group(1)}", "/why"])
    out = after.stdout
    assert "A typed code is not enough on its own" in out
    assert "1 waiting for your approval" in out and "send e-mail to jane@acme.test" in out
    assert out.count("Approved and done: e-mail to jane@acme.test queued") == 1
    assert "Already decided" in out
