"""mem0's extraction pipeline on SoloOS's parts: its LLM is our metered fast tier, its embedder our
``memory.Embedder``, its vector store our ``memories`` table through ``MemoryService``.

The three are registered in mem0's factories under the provider name ``soloos`` (``register``) and
find the extraction they serve through a context variable (``Extraction``): mem0 calls them from
worker threads (``asyncio.to_thread`` copies the context), and each call that needs the event loop
(a model request, a write) is run on the loop that started the extraction.

Memories are shown to mem0, and written by it, in one line form, ``[fact: <subject>] <statement>``
or ``[rule: <subject>] <statement>``: the model sees the subjects already in use and reuses one for a
newer statement on the same thing, so the newer memory supersedes the older (``MemoryService``'s
subject history). mem0 2.x only adds; updates and contradictions are ours, by subject.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelRequest, SystemPromptPart, TextPart, UserPromptPart
from pydantic_ai.models import Model, ModelRequestParameters

from memory import Layer, MemoryItem, MemoryService
from memory.errors import NotFound

log = logging.getLogger(__name__)

PROVIDER = "soloos"
COLLECTION = "memories"
SEARCH_LAYERS: tuple[Layer, ...] = ("project", "institutional")
EMPTY_ANSWER = '{"memory": []}'
_LINE = re.compile(r"^\s*\[\s*(?:(fact|rule)\s*:\s*)?([^\]]{1,160})\]\s*(.+)$", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    layer: str
    subject: str | None
    text: str


def parse_line(line: str) -> Parsed:
    """``[fact: acme · day rate] Acme pays 800 a day`` → project memory on subject "acme · day rate"."""
    match = _LINE.match(line)
    if match is None:
        return Parsed("project", None, line.strip())
    kind, subject, text = match.groups()
    layer = "institutional" if (kind or "").lower() == "rule" else "project"
    return Parsed(layer, subject.strip().lower() or None, text.strip())


def shown(layer: str, subject: str | None, text: str) -> str:
    """A stored memory in the line form the extraction writes (``parse_line``'s inverse)."""
    kind = "rule" if layer == "institutional" else "fact"
    return f"[{kind}: {subject}] {text}" if subject else f"[{kind}] {text}"


def line_hash(line: str) -> str:
    """The hash mem0 compares extracted lines with (md5 of the text) to skip exact repeats."""
    return hashlib.md5(line.encode()).hexdigest()


@dataclass
class Written:
    item: MemoryItem
    replaced: tuple[str, ...]


@dataclass
class Extraction:
    """One ``learn`` call: what mem0's parts need while it runs, and what they wrote."""

    loop: asyncio.AbstractEventLoop
    model: Model  # metered: priced, capped, cached
    memory: MemoryService
    workspace: str
    said_at: datetime
    source: str
    metadata: dict[str, Any]
    timeout: float
    written: list[Written] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)  # what the model was sent (tests and benchmarks read it)

    def on_loop(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the extraction's loop from one of mem0's worker threads."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=self.timeout)

    async def ask(self, messages: list[dict[str, Any]]) -> str:
        system = "\n".join(str(m["content"]) for m in messages if m.get("role") == "system")
        user = "\n".join(str(m["content"]) for m in messages if m.get("role") != "system")
        self.prompts.append(f"{system}\n{user}")
        request = ModelRequest(parts=[SystemPromptPart(system), UserPromptPart(user)])
        response = await self.model.request([request], None, ModelRequestParameters())
        return "".join(part.content for part in response.parts if isinstance(part, TextPart))

    async def write(self, line: str) -> None:
        parsed = parse_line(line)
        item = await self.memory.remember(
            parsed.text,
            layer=parsed.layer,  # type: ignore[arg-type]  # parse_line gives project or institutional
            workspace=self.workspace,
            source=self.source,
            occurred_at=self.said_at,
            subject=parsed.subject,
            metadata=dict(self.metadata),
        )
        if not item.duplicate:
            self.written.append(Written(item, item.replaces))


CURRENT: ContextVar[Extraction] = ContextVar("soloos_learning_extraction")


def _current() -> Extraction:
    try:
        return CURRENT.get()
    except LookupError:
        raise RuntimeError("mem0 was called outside a SoloOS extraction (agents.learning)") from None


def checked_answer(text: str) -> str:
    """The model's answer when it is mem0's JSON (``{"memory": [...]}``), else an empty one: a model
    that answered garbage stores nothing, and says so in one log line."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body, strict=False)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("memory"), list):
        log.warning("learning: the model's extraction was not mem0's JSON; nothing stored (%.80r)", text)
        return EMPTY_ANSWER
    return body


class _MeteredLLM:
    """mem0's LLM: the extraction's metered model (the fast tier), on the extraction's loop."""

    def generate_response(
        self,
        messages: list[dict[str, Any]],
        response_format: Any = None,
        tools: Any = None,
        tool_choice: str = "auto",
        **kwargs: Any,
    ) -> str:
        extraction = _current()
        return checked_answer(extraction.on_loop(extraction.ask(messages)))


class _SoloEmbedder:
    """mem0's embedder: ours (MiniLM, one model per process)."""

    def embed(self, text: Any, memory_action: Any = None) -> list[float]:
        return _current().memory.embedder.embed(str(text))

    def embed_batch(self, texts: list[str], memory_action: str = "add") -> list[list[float]]:
        return _current().memory.embedder.embed_many([str(t) for t in texts])


@dataclass(frozen=True)
class Found:
    """A search result in the shape mem0 reads (``id``, ``score``, ``payload``)."""

    id: str
    score: float
    payload: dict[str, Any]


class StoreConfig(BaseModel):
    collection_name: str = COLLECTION


class _MemoriesStore:
    """mem0's vector store: the workspace's current memories (search) and ``MemoryService.remember``
    (insert). Only the ``memories`` collection exists: mem0's entity collection (used when spaCy is
    installed) is empty and takes nothing."""

    def __init__(self, collection_name: str = COLLECTION, **_: Any) -> None:
        self.collection_name = collection_name

    @property
    def _ours(self) -> bool:
        return self.collection_name == COLLECTION

    def create_col(self, name: Any, vector_size: Any, distance: Any) -> None:
        return None

    def insert(self, vectors: Any, payloads: Any = None, ids: Any = None) -> None:
        if not self._ours:
            return
        extraction = _current()
        for payload in payloads or []:
            extraction.on_loop(extraction.write(str(payload["data"])))

    def search(self, query: Any, vectors: Any, top_k: int = 5, filters: Any = None) -> list[Found]:
        if not self._ours or not str(query or "").strip():
            return []
        extraction = _current()
        hits = extraction.on_loop(
            extraction.memory.recall(str(query), workspace=extraction.workspace, k=top_k, layers=SEARCH_LAYERS)
        )
        found = []
        for hit in hits:
            line = shown(hit.layer, hit.subject, hit.text)
            found.append(Found(str(hit.id), hit.score, {"data": line, "hash": line_hash(line)}))
        return found

    def keyword_search(self, query: str, top_k: int = 5, filters: Any = None) -> None:
        return None  # recall fuses full text itself; mem0's extraction only searches by vector

    def delete(self, vector_id: Any) -> None:
        if self._ours:
            extraction = _current()
            extraction.on_loop(extraction.memory.forget(str(vector_id), workspace=extraction.workspace))

    def update(self, vector_id: Any, vector: Any = None, payload: Any = None) -> None:
        raise NotImplementedError("memories are not edited in place: a newer one on the same subject supersedes")

    def get(self, vector_id: Any) -> Found | None:
        if not self._ours:
            return None
        extraction = _current()
        try:
            item = extraction.on_loop(extraction.memory.get(str(vector_id), workspace=extraction.workspace))
        except NotFound:
            return None
        line = shown(item.layer, item.subject, item.text)
        return Found(str(item.id), 1.0, {"data": line, "hash": line_hash(line)})

    def list_cols(self) -> list[str]:
        return [COLLECTION]

    def delete_col(self) -> None:
        raise NotImplementedError("the memories table is SoloOS's; mem0 does not drop it")

    def col_info(self) -> dict[str, Any]:
        return {"name": self.collection_name}

    def list(self, filters: Any = None, top_k: int | None = None) -> list[list[Found]]:
        if not self._ours:
            return [[]]
        extraction = _current()
        items = extraction.on_loop(
            extraction.memory.list(extraction.workspace, limit=top_k or 100, include_history=False)
        )
        rows = [shown(i.layer, i.subject, i.text) for i in items]
        return [[Found(str(i.id), 1.0, {"data": r, "hash": line_hash(r)}) for i, r in zip(items, rows, strict=True)]]

    def reset(self) -> None:
        raise NotImplementedError("the memories table is SoloOS's; mem0 does not reset it")


@functools.cache
def _parts() -> dict[str, type]:
    """The three parts as subclasses of mem0's bases, made when first asked for: importing mem0 reads
    its telemetry switch, so it must wait until ``prepare_mem0_environment`` has turned it off."""
    from mem0.embeddings.base import EmbeddingBase
    from mem0.llms.base import LLMBase
    from mem0.vector_stores.base import VectorStoreBase

    return {
        "MeteredLLM": type("MeteredLLM", (_MeteredLLM, LLMBase), {"__module__": __name__}),
        "SoloEmbedder": type("SoloEmbedder", (_SoloEmbedder, EmbeddingBase), {"__module__": __name__}),
        "MemoriesStore": type("MemoriesStore", (_MemoriesStore, VectorStoreBase), {"__module__": __name__}),
    }


def __getattr__(name: str) -> type:
    """mem0's factories load a provider by ``module.Class`` path: the parts are made on first use."""
    if name in ("MeteredLLM", "SoloEmbedder", "MemoriesStore"):
        return _parts()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register() -> None:
    """Name our three parts in mem0's factories (idempotent)."""
    from mem0.utils.factory import EmbedderFactory, LlmFactory, VectorStoreFactory

    LlmFactory.register_provider(PROVIDER, f"{__name__}.MeteredLLM")
    EmbedderFactory.provider_to_class[PROVIDER] = f"{__name__}.SoloEmbedder"
    VectorStoreFactory.provider_to_class[PROVIDER] = f"{__name__}.MemoriesStore"


def build_mem0(custom_instructions: str) -> Any:
    """mem0's ``AsyncMemory`` on our parts. Its history store (SQLite, required) is in memory: our
    history is the ``memories`` table and the audit log; mem0 keeps only the last messages there."""
    from mem0 import AsyncMemory
    from mem0.configs.base import MemoryConfig
    from mem0.embeddings.configs import EmbedderConfig
    from mem0.llms.configs import LlmConfig
    from mem0.vector_stores.configs import VectorStoreConfig

    register()
    # spaCy is optional in mem0 (mem0ai[nlp]): without it mem0 skips entity links and BM25 lemmas, which
    # our store does not use; its "failed to load" warnings would only alarm the operator
    logging.getLogger("mem0.utils.spacy_models").setLevel(logging.ERROR)
    # mem0's config validators accept only its own provider names; ours are registered in its factories
    config = MemoryConfig.model_construct(
        vector_store=VectorStoreConfig.model_construct(provider=PROVIDER, config=StoreConfig()),
        llm=LlmConfig.model_construct(provider=PROVIDER, config={}),
        embedder=EmbedderConfig.model_construct(provider=PROVIDER, config={}),
        history_db_path=":memory:",
        custom_instructions=custom_instructions,
    )
    return AsyncMemory(config)


__all__ = [
    "CURRENT",
    "EMPTY_ANSWER",
    "Extraction",
    "Written",
    "build_mem0",
    "checked_answer",
    "line_hash",
    "parse_line",
    "register",
    "shown",
]
