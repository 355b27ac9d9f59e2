"""Cold start of ``soloos chat`` to its first reply, as a user sees it.

    .venv/bin/python -m bench.cold_start [--runs 5]

Each run starts a new process on a fresh SOLOOS_HOME for the first run (initdb included) and on
the same home afterwards (server stopped between runs), pipes one recall question in, and times
until the reply line arrives. Two questions: ``help`` (no embedding needed) and a recall (model
load + embedding + SQL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOLOOS = str(Path(sys.executable).with_name("soloos"))


def first_reply_seconds(home: Path, message: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLOOS_") and k != "DATABASE_URL"}
    env["SOLOOS_HOME"] = str(home)
    began = time.perf_counter()
    proc = subprocess.Popen([SOLOOS, "chat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin and proc.stdout
    proc.stdin.write(message + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - began
    proc.stdin.close()
    proc.wait(timeout=60)
    if not line:
        raise RuntimeError("soloos chat printed no reply")
    return elapsed


def main(runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="soloos-cold-"))
    try:
        first = first_reply_seconds(home, "help")
        print(f"first ever start (initdb + migrations), 'help': {first:.2f} s")
        for message in ("help", "what do you know about Acme?"):
            times = [first_reply_seconds(home, message) for _ in range(runs)]
            print(
                f"cold process, server stopped, {message!r}: median {statistics.median(times):.2f} s, "
                f"max {max(times):.2f} s over {runs} runs"
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    print(f"conditions: {os.cpu_count()} cores, embedded PostgreSQL, local embedder, Python {sys.version.split()[0]}")
    main(parser.parse_args().runs)
