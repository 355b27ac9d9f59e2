"""Run the real ``soloos`` console script as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SOLOOS = str(Path(sys.executable).with_name("soloos"))


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLOOS_") and k != "DATABASE_URL"}
    quiet = {"SOLOOS_TELEGRAM_INTERIM_SECONDS": "600", "SOLOOS_SLACK_INTERIM_SECONDS": "600"}  # (tests/conftest.py)
    env.update({"SOLOOS_HOME": str(home), "SOLOOS_WORKSPACE": "proc", "SOLOOS_TIMEZONE": "UTC", **quiet, **extra})
    return env


def chat(home: Path, lines: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    """Pipe lines into ``soloos chat`` and wait for it to finish."""
    return subprocess.run(
        [SOLOOS, "chat"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env_for(home, **extra),
        timeout=180,
    )


def start_chat(home: Path) -> subprocess.Popen[str]:
    """A ``soloos chat`` that keeps reading stdin until told otherwise."""
    return subprocess.Popen(
        [SOLOOS, "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(home),
    )
