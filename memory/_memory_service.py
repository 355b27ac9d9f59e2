"""``MemoryService``: layered memory with hybrid recall over one Postgres table.

Writes embed first (CPU, no transaction open), then insert in one short transaction, so a
database that goes away mid-request leaves nothing half-written. Reads fuse a pgvector cosine
ranking with a Postgres full-text ranking by reciprocal rank. Memories that share a ``subject``
form a history: only the newest (by ``occurred_at``) is recalled; older ones stay listable.

``MemoryService`` is also what the rest of SoloOS holds: the record stores (``records``, ``finance``,
``schedules``, ``plans``, ``agent_store``, …) are its attributes, built on the same database and the
same ``clock``.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from memory._agent_store import AgentStore
from memory._channel_inbox import ChannelInbox
from memory._connector_configs import ConnectorConfigs
from memory._conversations import Conversations
from memory._drafts import Drafts
from memory._embedder import Embedder
from memory._finance import Finance
from memory._import_lines import BadLine, check_instant, numbered_lines, parse_line, refusal
from memory._intakes import Intakes
from memory._mail import Messages
from memory._memory_types import (
    LAYERS,
    OPERATOR_ORIGIN,
    VOUCHED_ORIGINS,
    ImportProblem,
    ImportReport,
    Layer,
    MemoryHit,
    MemoryItem,
    RecallMode,
)
from memory._outbox import ReplyOutbox
from memory._plans import Plans
from memory._postgres import Database
from memory._recall import CONTEXT_WEIGHT, RRF_K, cover_names, named, recall_sql
from memory._recall_context import (
    CONTEXT_NEIGHBOUR_CHARS,
    Neighbours,
    build_context,
    embedded_text,
    thread_key,
    time_window,
)
from memory._records import Records
from memory._schedules import Schedules
from memory._service_levels import ReliabilityStore
from memory.clock import Clock
from memory.errors import InvalidMemory, NotFound
from memory.secrets import SecretBox

MAX_MEMORY_CHARS = 20_000
MAX_ORIGIN_CHARS = 500
IMPORT_BATCH = 256

_WS = re.compile(r"\s+")
_ID_PREFIX = re.compile(r"^[0-9a-f]{6,32}$")

# Rows that are alive: not expired and not superseded by a newer memory on the same subject. Working
# memory's expiry was computed from the clock, so it is compared with the clock's now (``%(now)s``).
# Only a confirmed memory supersedes a confirmed one: what an e-mail says never replaces what the
# operator stated (an unconfirmed newer memory supersedes only unconfirmed older ones).
_CURRENT = """
    (m.expires_at IS NULL OR m.expires_at > %(now)s)
    AND (m.subject IS NULL OR NOT EXISTS (
        SELECT 1 FROM memories n
        WHERE n.workspace = m.workspace AND n.subject = m.subject AND (n.confirmed OR NOT m.confirmed)
          AND (n.occurred_at, n.created_at) > (m.occurred_at, m.created_at)))
"""

_COLUMNS = (
    "m.id, m.text, m.layer, m.workspace, m.subject, m.source, m.occurred_at, m.created_at, m.payload, "
    "m.origin, m.confirmed"
)


# Tokens that name one thing exactly: anything with a digit (INV-2026-0142, DE123456789, PO-77)
# and e-mail addresses.
_IDENTIFIER = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\b[\w/-]*\d[\w/-]*\b")


def _identifiers(query: str) -> builtins.list[str]:
    return _IDENTIFIER.findall(query)


def normalize_text(text: str) -> str:
    return _WS.sub(" ", text).strip()


def normalize_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    subject = normalize_text(subject).lower()
    return subject or None


def subject_words(subject: str) -> str:
    """A subject's words, sorted, without punctuation or possessives: "Acme · day-rate" and
    "acme's day rate" both give "acme day rate"."""
    words = re.findall(r"[^\W_]+", re.sub(r"['’]s\b", "", subject.lower()))
    return " ".join(sorted(set(words)))


def known_subject(conn: psycopg.Connection[Any], workspace: str, subject: str) -> str:
    """``subject`` as the workspace already writes it when a subject in use has the same words in
    other punctuation or order (so "acme – invoice #42" supersedes what "acme · invoice 42" said);
    else ``subject`` itself. A model asked to reuse a subject does not always copy it exactly."""
    words = subject_words(subject)
    if not words:
        return subject
    longest = max(words.split(), key=len)
    rows = conn.execute(
        """SELECT subject FROM memories WHERE workspace = %s AND subject IS NOT NULL AND subject LIKE %s
           GROUP BY subject ORDER BY subject = %s DESC, max(occurred_at) DESC LIMIT 200""",
        (workspace, f"%{longest}%", subject),
    ).fetchall()
    return next((known for (known,) in rows if known == subject or subject_words(known) == words), subject)


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).lower().encode()).hexdigest()


def _check_layer(layer: str) -> Layer:
    if layer not in LAYERS:
        raise InvalidMemory(f"unknown layer {layer!r}; use one of {', '.join(LAYERS)}")
    return layer


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _payload_metadata(payload: dict[str, Any]) -> dict[str, Any]:
    metadata = payload.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _item(row: dict[str, Any], *, current: bool = True, **extra: Any) -> MemoryItem:
    return MemoryItem(
        id=row["id"],
        text=row["text"],
        layer=row["layer"],
        workspace=row["workspace"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        subject=row["subject"],
        source=row["source"],
        metadata=_payload_metadata(row["payload"]),
        current=row.get("current", current),
        origin=row["origin"],
        confirmed=row["confirmed"],
        **extra,
    )


class MemoryService:
    """The memory API. Every method is async; blocking work runs in worker threads."""

    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        *,
        working_ttl: timedelta,
        clock: Clock | None = None,
        secrets: SecretBox | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or Clock()
        self.embedder = embedder
        self.working_ttl = working_ttl
        self.records = Records(db, self.clock)
        self.finance = Finance(db, self.clock)
        self.messages = Messages(db)
        self.conversations = Conversations(db)
        self.agent_store = AgentStore(db, self.clock)
        self.schedules = Schedules(db, self.clock)
        self.connectors = ConnectorConfigs(db, secrets)
        self.reliability = ReliabilityStore(db, self.clock)
        self.inbox = ChannelInbox(db)
        self.replies = ReplyOutbox(db)
        self.drafts = Drafts(db)
        self.intakes = Intakes(db)
        self.plans = Plans(db, self.clock)

    # -- writing ------------------------------------------------------------------------------

    async def remember(
        self,
        text: str,
        *,
        layer: Layer,
        workspace: str,
        source: str | None = None,
        occurred_at: datetime | None = None,
        subject: str | None = None,
        metadata: dict[str, Any] | None = None,
        origin: str = OPERATOR_ORIGIN,
        confirmed: bool | None = None,
    ) -> MemoryItem:
        """Store one memory. Storing the same text twice in a layer keeps the original.

        ``origin`` says where it came from (``operator``, ``record``, ``model``, ``email:<Message-ID> from
        <address>``, ``calendar:…``, ``bank:…``); ``confirmed`` defaults to whether that is the operator
        or a verified record: anything derived from outside data waits for the operator to confirm it."""
        row = self._prepare(text, layer, workspace, source, occurred_at, subject, metadata, origin, confirmed)
        vector = await asyncio.to_thread(self.embedder.embed, row["text"])
        return await asyncio.to_thread(self._insert_one, row, vector)

    async def add_note(self, text: str, *, workspace: str, source: str | None = None) -> MemoryItem:
        """A note record and its project memory, written together or not at all."""
        row = self._prepare(text, "project", workspace, source, None, None, None)
        vector = await asyncio.to_thread(self.embedder.embed, row["text"])
        return await asyncio.to_thread(self._insert_one, row, vector, True)

    def _prepare(
        self,
        text: str,
        layer: str,
        workspace: str,
        source: str | None,
        occurred_at: datetime | None,
        subject: str | None,
        metadata: dict[str, Any] | None,
        origin: str = OPERATOR_ORIGIN,
        confirmed: bool | None = None,
    ) -> dict[str, Any]:
        if not isinstance(text, str):
            raise InvalidMemory("memory text must be a string")
        clean = normalize_text(text)
        if not clean:
            raise InvalidMemory("memory text is empty")
        if len(clean) > MAX_MEMORY_CHARS:
            raise InvalidMemory(f"memory text is {len(clean):,} characters; the limit is {MAX_MEMORY_CHARS:,}")
        if "\x00" in clean:
            raise InvalidMemory("memory text contains a NUL character")
        if not workspace:
            raise InvalidMemory("workspace is required")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidMemory("metadata must be a JSON object")
        if not isinstance(origin, str) or not origin.strip() or len(origin) > MAX_ORIGIN_CHARS:
            raise InvalidMemory(f"origin must be a non-empty string of at most {MAX_ORIGIN_CHARS} characters")
        if confirmed is not None and not isinstance(confirmed, bool):
            raise InvalidMemory("confirmed must be true or false")
        layer_ = _check_layer(layer)
        expires = self.clock.now() + self.working_ttl if layer_ == "working" else None
        moment = _aware(occurred_at) if occurred_at else self.clock.now()
        return {
            "id": uuid.uuid4(),
            "text": clean,
            "layer": layer_,
            "workspace": workspace,
            "source": source,
            "occurred_at": moment,
            "context": build_context(moment, metadata, None, None),
            "subject": normalize_subject(subject),
            "metadata": metadata or {},
            "expires_at": expires,
            "hash": content_hash(clean),
            "origin": normalize_text(origin),
            "confirmed": origin in VOUCHED_ORIGINS if confirmed is None else confirmed,
        }

    @staticmethod
    def _payload(row: dict[str, Any]) -> Jsonb:
        # mem0's pgvector store reads "data", "user_id" and "hash" from the payload.
        return Jsonb(
            {
                "data": row["text"],
                "user_id": row["workspace"],
                "hash": row["hash"],
                "layer": row["layer"],
                "metadata": row["metadata"],
            }
        )

    _INSERT = """
        INSERT INTO memories (id, vector, payload, workspace, layer, text, subject, source,
                              occurred_at, expires_at, content_hash, origin, confirmed, context)
        VALUES (%(id)s, %(vector)s, %(payload)s, %(workspace)s, %(layer)s, %(text)s, %(subject)s,
                %(source)s, %(occurred_at)s, %(expires_at)s, %(hash)s, %(origin)s, %(confirmed)s, %(context)s)
        ON CONFLICT (workspace, layer, content_hash) DO NOTHING
        RETURNING id
    """

    def _insert_one(self, row: dict[str, Any], vector: list[float], as_note: bool = False) -> MemoryItem:
        import numpy as np

        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if row["subject"]:
                row = dict(row, subject=known_subject(conn, row["workspace"], row["subject"]))
            params = dict(row, vector=np.asarray(vector, dtype=np.float32), payload=self._payload(row))
            before = self._previous_in_thread(cur, row)
            if before is not None:
                params["context"] = build_context(row["occurred_at"], row["metadata"], before["text"], None)
            inserted = cur.execute(self._INSERT, params).fetchone()
            if inserted is None:  # same text already in this layer: keep the original
                existing = cur.execute(
                    f"SELECT {_COLUMNS} FROM memories m WHERE workspace = %s AND layer = %s AND content_hash = %s",
                    (row["workspace"], row["layer"], row["hash"]),
                ).fetchone()
                assert existing is not None
                return _item(existing, duplicate=True)
            if before is not None:  # the new memory is the context of the one before it, too
                cur.execute(
                    "UPDATE memories SET context = %s || ' | ' || context WHERE id = %s",
                    (row["text"][:CONTEXT_NEIGHBOUR_CHARS], before["id"]),
                )
            if as_note:
                cur.execute(
                    "INSERT INTO notes (workspace, body, memory_id, source) VALUES (%s, %s, %s, %s)",
                    (row["workspace"], row["text"], row["id"], row["source"]),
                )
            replaced: tuple[str, ...] = ()
            if row["subject"]:
                older = cur.execute(
                    """SELECT text FROM memories WHERE workspace = %s AND subject = %s AND id <> %s
                       AND occurred_at <= %s AND (%s OR NOT confirmed) ORDER BY occurred_at DESC LIMIT 3""",
                    (row["workspace"], row["subject"], row["id"], row["occurred_at"], row["confirmed"]),
                ).fetchall()
                replaced = tuple(r["text"] for r in older)
            created = cur.execute(
                f"SELECT {_COLUMNS}, {_CURRENT} AS current FROM memories m WHERE m.id = %(id)s",
                {"id": row["id"], "now": self.clock.now()},
            ).fetchone()
            assert created is not None
            return _item(created, replaces=replaced)

    @staticmethod
    def _previous_in_thread(cur: psycopg.Cursor[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
        """The memory just before ``row`` in its session (or day) and layer: its neighbour."""
        kind, key = thread_key(row["metadata"], row["occurred_at"])
        thread = "payload->'metadata'->>'session' = %(key)s" if kind == "session" else "occurred_at >= %(day)s"
        start = row["occurred_at"].replace(hour=0, minute=0, second=0, microsecond=0)
        return cur.execute(
            f"""SELECT id, text FROM memories
                WHERE workspace = %(ws)s AND layer = %(layer)s AND occurred_at <= %(at)s AND {thread}
                ORDER BY occurred_at DESC, created_at DESC LIMIT 1""",
            {"ws": row["workspace"], "layer": row["layer"], "at": row["occurred_at"], "key": key, "day": start},
        ).fetchone()

    async def import_jsonl(
        self,
        path: str | Path,
        *,
        workspace: str,
        source: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Import JSONL lines ``{"text", "layer", "occurred_at", "subject", "metadata"}``.

        Bad lines (invalid UTF-8, bad JSON, missing text, unknown layer, bad date) are reported
        with their line number; every good line is kept. ``progress`` is called with the number
        of lines handled so far.
        """
        return await asyncio.to_thread(self._import_sync, Path(path), workspace, source, progress)

    def _import_sync(
        self, path: Path, workspace: str, source: str | None, progress: Callable[[int], None] | None
    ) -> ImportReport:
        problems: list[ImportProblem] = []
        imported = duplicates = 0
        batch: list[dict[str, Any]] = []
        handled = 0
        source = source or f"import:{path.name}"
        neighbours = Neighbours()  # each line's context: the lines around it in the same session

        # Embedding (torch) and inserting (Postgres) overlap: batch N is written while N+1 embeds.
        writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        pending: concurrent.futures.Future[int] | None = None
        pending_size = 0

        def settle() -> None:
            nonlocal imported, duplicates, pending
            if pending is not None:
                added = pending.result()
                imported += added
                duplicates += pending_size - added
                pending = None

        def flush() -> None:
            nonlocal pending, pending_size
            if not batch:
                return
            rows = list(batch)
            batch.clear()
            vectors = self.embedder.embed_many([embedded_text(row) for row in rows])
            settle()
            pending = writer.submit(self._insert_imported, rows, vectors, problems)
            pending_size = len(rows)

        try:
            handle = path.open("rb")
        except OSError as err:
            raise InvalidMemory(f"cannot read {path}: {err.strerror}") from err
        try:
            with handle:
                for number, raw in numbered_lines(handle):
                    handled = number
                    row = self._parse_import_line(number, raw, workspace, source, problems)
                    if row is not None:
                        batch.extend(neighbours.push(row))
                    if len(batch) >= IMPORT_BATCH:
                        flush()
                        if progress:
                            progress(handled)
            batch.extend(neighbours.finish())
            flush()
            settle()
        finally:
            writer.shutdown(wait=True)
        if imported:
            self._tidy_after_import()
        if progress:
            progress(handled)
        return ImportReport(
            imported=imported, duplicates=duplicates, problems=tuple(sorted(problems, key=lambda p: p.line))
        )

    def _tidy_after_import(self) -> None:
        """Vacuum what an import wrote, as part of the import rather than later, when autovacuum would
        compete with the operator's turns for the cores. It also merges the full-text index's pending
        list, which every recall otherwise scans row by row, and gives the planner fresh statistics
        (without them it sorted every row instead of using the HNSW index)."""
        with self.db.connection() as conn:
            conn.autocommit = True  # VACUUM runs outside a transaction
            try:
                conn.execute("VACUUM (ANALYZE) memories, memory_lexemes")
            finally:
                conn.autocommit = False

    def _parse_import_line(
        self, number: int, raw: bytes | None, workspace: str, source: str, problems: list[ImportProblem]
    ) -> dict[str, Any] | None:
        try:
            data = parse_line(raw)
            if data is None:
                return None
            occurred = data.get("occurred_at")
            occurred_at: datetime | None = None
            if occurred is not None:
                try:
                    occurred_at = datetime.fromisoformat(occurred)
                except ValueError:
                    raise BadLine(f'"occurred_at" {occurred!r} is not an ISO 8601 date') from None
                check_instant(occurred_at, occurred)
            row = self._prepare(
                data["text"],
                data.get("layer", "project"),
                workspace,
                data.get("source") or source,
                occurred_at,
                data.get("subject"),
                data.get("metadata"),
                data.get("origin") or OPERATOR_ORIGIN,
                data.get("confirmed"),
            )
        except (BadLine, InvalidMemory) as err:
            problems.append(ImportProblem(number, str(err)))
            return None
        except (ValueError, TypeError, OverflowError, RecursionError) as err:  # a case no check foresaw
            problems.append(ImportProblem(number, f"cannot be read: {refusal(err)}"))
            return None
        return dict(row, line=number, dated=occurred_at is not None)

    def _insert_imported(
        self, rows: list[dict[str, Any]], vectors: list[list[float]], problems: list[ImportProblem]
    ) -> int:
        """Insert a batch of imported lines; when Postgres refuses it, each line alone, so one row
        the checks let through costs only its own line (reported with its number)."""
        try:
            return self._insert_many(rows, vectors)
        except psycopg.DataError:
            pass
        added = 0
        for row, vector in zip(rows, vectors, strict=True):
            try:
                added += self._insert_many([row], [vector])
            except psycopg.DataError as err:
                problems.append(ImportProblem(row["line"], f"the database refused it: {refusal(err)}"))
        return added

    _COLUMNS_IN = ("id", "vector", "payload", "workspace", "layer", "text", "subject", "source", "occurred_at",
                   "expires_at", "hash", "origin", "confirmed", "context")  # fmt: skip

    def _insert_many(self, rows: list[dict[str, Any]], vectors: list[list[float]]) -> int:
        """One multi-row statement per batch, so the lexeme counts (a statement trigger) run once."""
        import numpy as np

        values = ", ".join(["(" + ", ".join(["%s"] * len(self._COLUMNS_IN)) + ")"] * len(rows))
        params: list[Any] = []
        for row, vector in zip(rows, vectors, strict=True):
            full = dict(row, vector=np.asarray(vector, dtype=np.float32), payload=self._payload(row))
            params.extend(full[column] for column in self._COLUMNS_IN)
        sql = f"""INSERT INTO memories (id, vector, payload, workspace, layer, text, subject, source, occurred_at,
                                        expires_at, content_hash, origin, confirmed, context)
                  VALUES {values} ON CONFLICT (workspace, layer, content_hash) DO NOTHING RETURNING id"""
        with self.db.connection() as conn, conn.cursor() as cur:
            return len(cur.execute(sql.encode(), params).fetchall())

    # -- reading ------------------------------------------------------------------------------

    async def recall(
        self,
        query: str,
        *,
        workspace: str,
        k: int = 10,
        layers: Iterable[Layer] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        mode: RecallMode = "hybrid",
    ) -> list[MemoryHit]:
        """The ``k`` most relevant current memories for ``query`` in ``workspace``."""
        query = normalize_text(query or "")
        if not query:
            raise InvalidMemory("recall needs a query")
        if not 1 <= k <= 200:
            raise InvalidMemory("k must be between 1 and 200")
        chosen = [_check_layer(layer) for layer in layers] if layers else list(LAYERS)

        def run() -> builtins.list[MemoryHit]:  # one thread hop for embedding and query
            vector = self.embedder.embed(query[:2000]) if mode != "text" else None
            return self._recall_sync(query, vector, workspace, k, chosen, since, until, mode)

        return await asyncio.to_thread(run)

    def _recall_sync(
        self,
        query: str,
        vector: list[float] | None,
        workspace: str,
        k: int,
        layers: Sequence[str],
        since: datetime | None,
        until: datetime | None,
        mode: RecallMode,
    ) -> builtins.list[MemoryHit]:
        import numpy as np

        identifiers = _identifiers(query)
        window = time_window(query, self.clock.now()) if mode == "hybrid" else None
        names = named(query) if mode == "hybrid" else []
        params: dict[str, Any] = {
            "ws": workspace,
            "layers": list(layers),
            "since": _aware(since) if since else None,
            "until": _aware(until) if until else None,
            "text": query[:2000],
            "ids": " ".join(identifiers),
            "depth": max(40, 4 * k),
            "k": k,
            "pool": 2 * k,
            "rrf": RRF_K,
            "ctxw": CONTEXT_WEIGHT,
            "win_from": window[0] if window else None,
            "win_to": window[1] if window else None,
            "vec": np.asarray(vector, dtype=np.float32) if vector is not None else None,
            "now": self.clock.now(),
        }
        scope = """m.workspace = %(ws)s AND m.layer = ANY(%(layers)s)
            AND (%(since)s::timestamptz IS NULL OR m.occurred_at >= %(since)s)
            AND (%(until)s::timestamptz IS NULL OR m.occurred_at < %(until)s)"""
        sql = recall_sql(
            mode,
            scope,
            _CURRENT,
            _COLUMNS + ", m.context",
            identifiers=bool(identifiers),
            window=window is not None,
            pool=len(names) > 1,
        )
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(sql.encode(), params).fetchall()
        rows = cover_names(rows, k, names)
        return [
            MemoryHit(
                id=row["id"],
                text=row["text"],
                score=float(row["score"]),
                layer=row["layer"],
                occurred_at=row["occurred_at"],
                metadata=_payload_metadata(row["payload"]),
                subject=row["subject"],
                source=row["source"],
                origin=row["origin"],
                confirmed=row["confirmed"],
            )
            for row in rows
        ]

    async def list(
        self,
        workspace: str,
        *,
        layer: Layer | None = None,
        limit: int = 50,
        include_history: bool = True,
    ) -> builtins.list[MemoryItem]:
        """Newest first. With ``include_history`` superseded memories are listed too (``current`` False)."""
        if layer is not None:
            _check_layer(layer)
        return await asyncio.to_thread(self._list_sync, workspace, layer, limit, include_history)

    def _list_sync(
        self, workspace: str, layer: str | None, limit: int, include_history: bool
    ) -> builtins.list[MemoryItem]:
        history = "TRUE" if include_history else _CURRENT
        sql = f"""SELECT {_COLUMNS}, {_CURRENT} AS current FROM memories m
                  WHERE m.workspace = %(ws)s AND (%(layer)s::text IS NULL OR m.layer = %(layer)s) AND {history}
                  ORDER BY m.occurred_at DESC, m.created_at DESC LIMIT %(limit)s"""
        params = {"ws": workspace, "layer": layer, "limit": limit, "now": self.clock.now()}
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(sql, params).fetchall()
        return [_item(row) for row in rows]

    async def count(self, workspace: str) -> int:
        def run() -> int:
            with self.db.connection() as conn:
                row = conn.execute("SELECT count(*) FROM memories WHERE workspace = %s", (workspace,)).fetchone()
            return int(row[0]) if row else 0

        return await asyncio.to_thread(run)

    async def get(self, memory_id: str | uuid.UUID, *, workspace: str | None = None) -> MemoryItem:
        return await asyncio.to_thread(self._get_sync, str(memory_id), workspace)

    def _get_sync(self, memory_id: str, workspace: str | None) -> MemoryItem:
        where, value = self._id_clause(memory_id)
        sql = f"""SELECT {_COLUMNS}, {_CURRENT} AS current FROM memories m
                  WHERE {where} AND (%(ws)s::text IS NULL OR m.workspace = %(ws)s) LIMIT 2"""
        params = {"id": value, "ws": workspace, "now": self.clock.now()}
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(sql, params).fetchall()
        if not rows:
            raise NotFound(f"no memory with id {memory_id}")
        if len(rows) > 1:
            raise InvalidMemory(f"id prefix {memory_id} matches several memories; give more characters")
        return _item(rows[0])

    @staticmethod
    def _id_clause(memory_id: str) -> tuple[str, str]:
        cleaned = memory_id.strip().lower()
        try:
            return "m.id = %(id)s::uuid", str(uuid.UUID(cleaned))
        except ValueError:
            pass
        compact = cleaned.replace("-", "")
        if not _ID_PREFIX.match(compact):
            raise InvalidMemory(f"{memory_id!r} is not a memory id (a UUID or at least 6 of its hex digits)")
        return "replace(m.id::text, '-', '') LIKE %(id)s", compact + "%"

    async def confirm(self, memory_id: str | uuid.UUID, *, workspace: str) -> MemoryItem:
        """The operator vouches for an unconfirmed memory: from now on it is a fact like one they stated
        (it supersedes, and is superseded by, facts on its subject by time). Returns it as it was before."""
        item = await self.get(memory_id, workspace=workspace)

        def run() -> None:
            with self.db.connection() as conn:
                conn.execute(
                    "UPDATE memories SET confirmed = true WHERE id = %s AND workspace = %s", (item.id, workspace)
                )

        if not item.confirmed:
            await asyncio.to_thread(run)
        return item

    async def forget(self, memory_id: str | uuid.UUID, *, workspace: str | None = None) -> MemoryItem:
        """Delete one memory (and unlink its note). Returns what was deleted."""
        item = await self.get(memory_id, workspace=workspace)

        def run() -> None:
            with self.db.connection() as conn:
                conn.execute("DELETE FROM memories WHERE id = %s", (item.id,))

        await asyncio.to_thread(run)
        return item

    async def export(self, workspace: str, *, layer: Layer | None = None) -> builtins.list[str]:
        """Every memory of the workspace (history included) as JSONL lines, oldest first."""

        def run() -> builtins.list[str]:
            sql = f"""SELECT {_COLUMNS} FROM memories m WHERE m.workspace = %s
                      AND (%s::text IS NULL OR m.layer = %s) ORDER BY m.occurred_at, m.created_at"""
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(sql, (workspace, layer, layer)).fetchall()
            return [
                json.dumps(
                    {
                        "text": r["text"],
                        "layer": r["layer"],
                        "occurred_at": r["occurred_at"].isoformat(),
                        "subject": r["subject"],
                        "source": r["source"],
                        "metadata": _payload_metadata(r["payload"]),
                        "origin": r["origin"],
                        "confirmed": r["confirmed"],
                        "id": str(r["id"]),
                    },
                    ensure_ascii=False,
                )
                for r in rows
            ]

        return await asyncio.to_thread(run)

    async def ping(self) -> None:
        def run() -> None:
            with self.db.connection() as conn:
                conn.execute("SELECT 1")

        await asyncio.to_thread(run)


__all__ = ["MemoryService", "content_hash", "known_subject", "normalize_subject", "normalize_text"]
