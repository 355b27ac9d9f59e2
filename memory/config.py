"""What memory needs to know to open: a small protocol, so memory never imports the bot's settings.

The composition root passes its settings object (``bot.settings.Settings`` satisfies
``MemoryConfig``); tests and benchmarks may pass any object with these attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Secret(Protocol):
    """A value kept out of logs and reprs (``pydantic.SecretStr`` fits)."""

    def get_secret_value(self) -> str: ...


class EmbedderConfig(Protocol):
    """Which embedder to load: ``embedder`` is "local" (sentence-transformers) or "openai"."""

    @property
    def home(self) -> Path: ...
    @property
    def embedder(self) -> str: ...
    @property
    def embedder_model(self) -> str | None: ...
    @property
    def embedder_base_url(self) -> str | None: ...
    @property
    def embedder_api_key(self) -> Secret | None: ...
    @property
    def embedder_bfloat16(self) -> bool: ...  # bulk lists in bfloat16 where the CPU does it natively


class MemoryConfig(EmbedderConfig, Protocol):
    """Where the database is, how long to wait for it, how long working memory lives, and the key of
    connector secrets (``memory.secrets``)."""

    @property
    def database_url(self) -> Secret | None: ...  # None: the embedded server under ``home``
    @property
    def db_connect_timeout(self) -> float: ...
    @property
    def working_memory_hours(self) -> int: ...
    @property
    def secret_key(self) -> Secret | None: ...  # None: the OS keyring, else the key file under ``home``


__all__ = ["EmbedderConfig", "MemoryConfig", "Secret"]
