"""Logging set-up: secrets never reach a log line.

HTTP libraries log request URLs, and Telegram puts the bot token in every URL; exceptions can carry
passwords. ``Redact`` masks anything shaped like a Telegram or Slack token, and the exact secret
values from the settings, in the message and in the formatted exception, before a handler writes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

TOKEN_SHAPES = re.compile(
    r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"  # Telegram bot token, also inside ".../bot<token>/..."
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack bot / user tokens
    r"|xapp-[A-Za-z0-9-]{10,}"  # Slack app-level token
    r"|sk-[A-Za-z0-9_-]{16,}"  # OpenAI-style API keys
)
MASK = "***"


class Redact(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return TOKEN_SHAPES.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line (for log shippers): time, level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(*, verbose: bool, secrets: Iterable[str] = (), json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonLines() if json_lines else text)
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
