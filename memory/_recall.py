"""The recall query: independent candidate lists fused by reciprocal rank.

Each list ranks memories on its own, so a memory the embedder misses can still be found by its
words and the other way round:

- ``dense``  pgvector cosine distance to the question's embedding (HNSW);
- ``words``  a BM25-like ranking: every question lexeme found in a memory adds its IDF (counted per
  workspace in ``memory_lexemes``), in full when it is in the memory's own words and at
  ``CONTEXT_WEIGHT`` when only its context has it (neighbouring turns, speaker, date in words);
  length-normalized like BM25 (k1 1.2, b 0.75, one occurrence per lexeme);
- ``exact``  identifiers in the question (anything with a digit, e-mail addresses) all present;
- ``when``   when the question names a time ("in March", "last month"), the ``dense`` and ``words``
  candidates of that span, in their own order: a soft boost, never a filter.

The fused list is then made diverse: a memory whose neighbour (same session, adjacent) is already
ranked higher drops down the list, so a question that needs two memories gets room for the second.

Modes: ``hybrid`` (all of the above), ``dense``, ``text`` (the words of memories themselves, no
context, and identifiers) and ``fusion`` (plain RRF of ``text`` and ``dense``: the baseline).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONTEXT_WEIGHT", "RRF_K", "recall_sql"]

RRF_K = 60  # reciprocal-rank-fusion constant (Cormack et al.)
CONTEXT_WEIGHT = 0.35  # a lexeme found only in a memory's context counts this share of its IDF
PROBE_TERMS = 8  # candidates are memories with any of the question's rarest lexemes
COMMON_SHARE = 0.2  # a lexeme in more memories than this share only ranks, unless it is the rarest
MAX_SCORED = 5000  # at most this many word candidates are scored (a question of only common words)
BM25_K1 = 1.2
BM25_B = 0.75

_WEIGHTS = {"dense": 1.0, "words": 1.0, "exact": 1.0, "when_dense": 0.5, "when_words": 0.5}


def _words_cte(scope: str, context: bool, window: bool) -> str:
    found = (
        "CASE WHEN c.tsv @@ t.own THEN 1.0 WHEN c.tsv @@ t.any THEN %(ctxw)s ELSE 0 END"
        if context
        else "CASE WHEN c.tsv @@ t.own THEN 1.0 ELSE 0 END"
    )
    probe = "p.any_q" if context else "p.own_q"
    when = "AND m.occurred_at >= %(win_from)s AND m.occurred_at < %(win_to)s" if window else ""
    saturation = f"{BM25_K1} * (1 - {BM25_B} + {BM25_B} * c.norm)"
    return f"""SELECT id, row_number() OVER (ORDER BY score DESC) AS r FROM (
        SELECT c.id, s.score FROM (
            SELECT id, tsv, length(tsv) / greatest(avg(length(tsv)) OVER (), 1) AS norm FROM (
                SELECT m.id, m.tsv FROM memories m, probe p
                WHERE {probe} IS NOT NULL AND m.tsv @@ {probe} AND {scope} {when}
                LIMIT {MAX_SCORED}) m) c
        CROSS JOIN LATERAL (
            SELECT sum(t.idf * t.f * {BM25_K1 + 1} / (t.f + {saturation})) AS score
            FROM (SELECT t.idf, {found} AS f FROM terms t) t WHERE t.f > 0) s
        ORDER BY s.score DESC LIMIT %(depth)s) w"""


def recall_sql(mode: str, scope: str, columns: str, *, identifiers: bool, window: bool, diverse: bool) -> str:
    """The whole recall as one statement; parameters: ws, text, ids, vec, depth, k, rrf, ctxw,
    win_from, win_to, plus whatever ``scope`` names."""
    context = mode == "hybrid"
    lists = {"dense": ["dense"], "text": ["words"], "fusion": ["dense", "words"], "hybrid": ["dense", "words"]}[mode]
    if identifiers and mode != "dense":
        lists.append("exact")
    ctes: dict[str, str] = {}
    if "words" in lists:
        ctes["terms"] = """SELECT q.lexeme, s.docs,
                   ln(1 + (n.docs - s.docs + 0.5) / (s.docs + 0.5)) AS idf,
                   quote_literal(q.lexeme)::tsquery AS any,
                   (quote_literal(q.lexeme) || ':A')::tsquery AS own
            FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS q(lexeme)
            JOIN memory_lexemes s ON s.workspace = %(ws)s AND s.lexeme = q.lexeme AND s.docs > 0
            CROSS JOIN (SELECT greatest(docs, 1) AS docs FROM memory_lexemes
                        WHERE workspace = %(ws)s AND lexeme = '') n"""
        ctes["probe"] = f"""SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS any_q,
                   string_agg(quote_literal(lexeme) || ':A', ' | ')::tsquery AS own_q
            FROM (SELECT lexeme, docs, idf, row_number() OVER (ORDER BY docs, lexeme) AS rarest
                  FROM terms) t
            WHERE rarest = 1 OR (rarest <= {PROBE_TERMS} AND idf >= ln(1 + (1 - {COMMON_SHARE}) / {COMMON_SHARE}))"""
    if "dense" in lists:
        ctes["dense"] = f"""SELECT id, row_number() OVER (ORDER BY dist) AS r FROM (
            SELECT m.id, m.vector <=> %(vec)s AS dist FROM memories m
            WHERE {scope} ORDER BY m.vector <=> %(vec)s LIMIT %(depth)s) d"""
    if "words" in lists:
        ctes["words"] = _words_cte(scope, context, window=False)
    if "exact" in lists:
        # Identifiers (invoice numbers, VAT ids, e-mails, codes) must all match: rare and exact.
        ctes["exact"] = f"""SELECT id, row_number() OVER (ORDER BY rank DESC) AS r FROM (
            SELECT m.id, ts_rank_cd(m.tsv, q) AS rank FROM memories m, plainto_tsquery('english', %(ids)s) AS q
            WHERE {scope} AND q <> ''::tsquery AND m.tsv @@ q
            ORDER BY rank DESC LIMIT %(depth)s) s"""
    if window and context:
        ctes["when_dense"] = """SELECT d.id, row_number() OVER (ORDER BY d.r) AS r FROM dense d
            JOIN memories m ON m.id = d.id
            WHERE m.occurred_at >= %(win_from)s AND m.occurred_at < %(win_to)s"""
        ctes["when_words"] = _words_cte(scope, context, window=True)
        lists += ["when_dense", "when_words"]
    union = " UNION ALL ".join(f"SELECT id, r, {_WEIGHTS[name]}::float AS w FROM {name}" for name in lists)
    with_sql = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes.items())
    limit = "%(pool)s" if diverse else "%(k)s"
    return f"""
        WITH {with_sql},
        fused AS (SELECT id, sum(w / (%(rrf)s + r)) AS score FROM ({union}) u GROUP BY id)
        SELECT {columns}, f.score FROM fused f JOIN memories m ON m.id = f.id
        ORDER BY f.score DESC, m.occurred_at DESC LIMIT {limit}"""


def diversify(rows: list[dict[str, Any]], k: int, neighbours: Any) -> list[dict[str, Any]]:
    """Top ``k`` of ``rows`` (best first), each memory adjacent to one already chosen moved after
    the ones that are not, so two neighbours do not take the place of a second piece of evidence."""
    chosen: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []
    for row in rows:
        (deferred if any(neighbours(row, other) for other in chosen) else chosen).append(row)
    return (chosen + deferred)[:k]
