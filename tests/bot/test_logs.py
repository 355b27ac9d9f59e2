"""Secrets never reach the logs: tokens in URLs, in messages, in exceptions."""

from __future__ import annotations

import logging

import pytest

from bot.logs import setup_logging

TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ZE"
PASSWORD = "correct horse battery staple"


def test_tokens_and_configured_secrets_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging(verbose=True, secrets=[PASSWORD])
    log = logging.getLogger("soloos.test")
    log.info("HTTP Request: POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.warning("slack said no to xoxb-1234567890-abcdefghij and xapp-1-A0123456789-abcdef")
    try:
        raise ConnectionError(f"login failed for owner with {PASSWORD}")
    except ConnectionError:
        log.exception("imap")
    written = capsys.readouterr().err
    assert TOKEN not in written and PASSWORD not in written and "xoxb-1234567890" not in written
    assert "xapp-1-A0123456789" not in written
    assert "https://api.telegram.org/bot***/getUpdates" in written
    assert "login failed for owner with ***" in written  # the exception is kept, minus the secret
    root.handlers, root.level = saved


def test_json_lines_are_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging(verbose=True, secrets=[PASSWORD], json_lines=True)
    try:
        raise ConnectionError(f"login failed with {PASSWORD}")
    except ConnectionError:
        logging.getLogger("soloos.test").exception("imap for bot%s", TOKEN)
    root.handlers, root.level = saved
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "soloos.test", "imap for bot***")
    assert "login failed with ***" in entry["exception"] and PASSWORD not in line


def test_soloos_run_with_an_unreachable_telegram_says_so_without_leaking_the_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from tests.support.processes import SOLOOS, env_for

    env = env_for(
        tmp_path,
        SOLOOS_TELEGRAM_TOKEN=TOKEN,
        SOLOOS_TELEGRAM_ALLOWED_USERS="1",
        SOLOOS_TELEGRAM_API_URL="http://127.0.0.1:1",
    )
    done = subprocess.run([SOLOOS, "-v", "run"], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 1
    assert "could not start a chat channel: NetworkError" in done.stderr and "Traceback" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout
