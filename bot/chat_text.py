"""What every chat channel shares: cutting long text into messages, and the refusal for strangers."""

from __future__ import annotations

from collections.abc import Iterator

TELEGRAM_LIMIT = 4096
REFUSAL = "Sorry, this is a private assistant and I can only help its owner. Nothing you send is stored."


def split_text(text: str, limit: int = TELEGRAM_LIMIT) -> Iterator[str]:
    """Chunks of at most ``limit`` characters, cut at a paragraph, line or word when possible."""
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut <= limit // 2:
            cut = limit
        yield text[:cut].rstrip()
        text = text[cut:].lstrip()
    if text:
        yield text


__all__ = ["REFUSAL", "TELEGRAM_LIMIT", "split_text"]
