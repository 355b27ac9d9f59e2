"""A real CalDAV server for tests: Radicale as a subprocess on 127.0.0.1, in a temporary folder.

It authenticates against a plain htpasswd file with one known user, keeps its collections in the
temporary folder, and is stopped (and the folder removed) when the context manager exits.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from caldav.davclient import DAVClient

HOST = "127.0.0.1"
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class CalDAVServer:
    url: str
    username: str
    password: str
    log: Path

    def client(self) -> DAVClient:
        """A ``caldav`` client logged in as the server's user, for arranging test data."""
        return DAVClient(url=self.url, username=self.username, password=self.password, enable_rfc6764=False)


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; it may be taken again later)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _config(folder: Path, port: int) -> Path:
    config = folder / "config"
    config.write_text(
        f"""[server]
hosts = {HOST}:{port}

[auth]
type = htpasswd
htpasswd_filename = {folder / "users"}
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {folder / "collections"}

[logging]
level = warning
""",
        encoding="utf-8",
    )
    return config


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # 401 and friends: the server is up
    except OSError:
        return False
    return True


def _start(folder: Path, port: int, log: Path) -> subprocess.Popen[bytes] | None:
    """Radicale on ``port``, once it answers; None if it exited (say, the port was taken meanwhile)."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(_config(folder, port))],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        if _answers(f"http://{HOST}:{port}/"):
            return process
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"Radicale did not answer within {START_TIMEOUT:g} s:\n{log.read_text(errors='replace')}")


@contextlib.contextmanager
def radicale(username: str = "operator", password: str = "correct horse battery") -> Iterator[CalDAVServer]:
    """Run Radicale until the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="soloos-radicale-"))
    (folder / "users").write_text(f"{username}:{password}\n", encoding="utf-8")
    log = folder / "radicale.log"
    process = None
    try:
        for _ in range(3):
            port = free_port()
            process = _start(folder, port, log)
            if process is not None:
                break
        if process is None:
            raise RuntimeError(f"Radicale would not start:\n{log.read_text(errors='replace')}")
        yield CalDAVServer(f"http://{HOST}:{port}/", username, password, log)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)
