"""The recall query: independent candidate lists fused by reciprocal rank, weighed by score.

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

Fusion: each list adds ``weight * rel / (60 + rank)``, where ``rel`` is the candidate's score over
the best score of its list (cosine similarity for ``dense``, BM25 for ``words``): plain RRF lets the
tail of one list tie with the clear winner of another (a client's name matching thirty memories
ties with the one rare word that answers); with ``rel`` a list that is sure counts more.

When the question names two or more things ("Acme and Globex"), the top k keeps the best memory
naming each of them, so a question that needs two memories gets both.

Modes: ``hybrid`` (all of the above), ``dense``, ``text`` (the words of memories themselves, no
context, and identifiers) and ``fusion`` (plain RRF of ``text`` and ``dense``: the baseline).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["CONTEXT_WEIGHT", "RRF_K", "cover_names", "named", "recall_sql"]

RRF_K = 60  # reciprocal-rank-fusion constant (Cormack et al.)
CONTEXT_WEIGHT = 0.35  # a lexeme found only in a memory's context counts this share of its IDF
# Word candidates are the memories holding the question's rarest lexeme or any of its next rarest
# ones found in at most PROBE_CHEAP memories (or COMMON_SHARE of them): commoner lexemes only rank.
PROBE_TERMS = 8
PROBE_CHEAP = 300
COMMON_SHARE = 0.02
PROBE_MAX = 5000  # a lexeme in more memories than this finds none (it would cost more than it tells)
MAX_SCORED = 1000  # at most this many word candidates are scored (a question of only common words)
BM25_K1 = 1.2
BM25_B = 0.75

_WEIGHTS = {"dense": 1.0, "words": 1.0, "exact": 1.0, "when_dense": 1.0, "when_words": 1.0}
WHEN_DEPTH = 3  # the time a question names lifts this many candidates of each list: a nudge, no filter


def _words_cte(scope: str, current: str, context: bool, window: bool) -> str:
    found = (
        "CASE WHEN c.tsv @@ t.own THEN 1.0 WHEN c.tsv @@ t.any THEN %(ctxw)s ELSE 0 END"
        if context
        else "CASE WHEN c.tsv @@ t.own THEN 1.0 ELSE 0 END"
    )
    probe = "p.any_q" if context else "p.own_q"
    when = "AND m.occurred_at >= %(win_from)s AND m.occurred_at < %(win_to)s" if window else ""
    saturation = f"{BM25_K1} * (1 - {BM25_B} + {BM25_B} * c.norm)"
    return f"""SELECT id, row_number() OVER (ORDER BY score DESC) AS r,
               coalesce(score / nullif(max(score) OVER (), 0), 0) AS rel FROM (
        SELECT x.id, x.score FROM (
        SELECT c.id, coalesce(s.score, 0) AS score FROM (
            SELECT id, tsv, length(tsv) / greatest(avg(length(tsv)) OVER (), 1) AS norm FROM (
                SELECT m.id, m.tsv FROM memories m, probe p
                WHERE {probe} IS NOT NULL AND m.tsv @@ {probe} AND {scope} {when}
                LIMIT {MAX_SCORED}) m) c
        CROSS JOIN LATERAL (
            SELECT sum(t.idf * t.f * {BM25_K1 + 1} / (t.f + {saturation})) AS score
            FROM (SELECT t.idf, {found} AS f FROM terms t) t WHERE t.f > 0) s
        ORDER BY score DESC LIMIT 2 * %(depth)s) x
        JOIN memories m ON m.id = x.id WHERE {current}  -- alive: checked for the best only
        ORDER BY x.score DESC LIMIT %(depth)s) w"""


def recall_sql(
    mode: str, scope: str, current: str, columns: str, *, identifiers: bool, window: bool, pool: bool
) -> str:
    """The whole recall as one statement; parameters: ws, text, ids, vec, depth, k (or with ``pool``,
    pool: more rows than k, for ``cover_names``), rrf, ctxw, win_from, win_to, and those of ``scope`` and
    ``current`` (which memories are alive: checked after the cheap ``scope``)."""
    alive = f"{scope} AND {current}"
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
            CROSS JOIN (SELECT greatest(docs, 1) AS n FROM memory_lexemes WHERE workspace = %(ws)s AND lexeme = '') n
            WHERE docs <= {PROBE_MAX}
              AND (rarest = 1 OR (rarest <= {PROBE_TERMS} AND docs <= greatest({PROBE_CHEAP}, {COMMON_SHARE} * n.n)))"""
    if "dense" in lists:
        ctes["dense"] = f"""SELECT id, row_number() OVER (ORDER BY dist) AS r,
            greatest(1 - dist, 0) / greatest(max(1 - dist) OVER (), 1e-6) AS rel FROM (
            SELECT m.id, m.vector <=> %(vec)s AS dist FROM memories m
            WHERE {alive} ORDER BY m.vector <=> %(vec)s LIMIT %(depth)s) d"""
    if "words" in lists:
        ctes["words"] = _words_cte(scope, current, context, window=False)
    if "exact" in lists:
        # Identifiers (invoice numbers, VAT ids, e-mails, codes) must all match: rare and exact.
        ctes["exact"] = f"""SELECT id, row_number() OVER (ORDER BY rank DESC) AS r FROM (
            SELECT m.id, ts_rank_cd(m.tsv, q) AS rank FROM memories m, plainto_tsquery('english', %(ids)s) AS q
            WHERE {alive} AND q <> ''::tsquery AND m.tsv @@ q
            ORDER BY rank DESC LIMIT %(depth)s) s"""
    if window and context:
        ctes["when_dense"] = f"""SELECT d.id, row_number() OVER (ORDER BY d.r) AS r FROM dense d
            JOIN memories m ON m.id = d.id
            WHERE m.occurred_at >= %(win_from)s AND m.occurred_at < %(win_to)s
            ORDER BY d.r LIMIT {WHEN_DEPTH}"""
        ctes["when_words"] = _words_cte(scope, current, context, window=True).replace("%(depth)s", str(WHEN_DEPTH))
        lists += ["when_dense", "when_words"]
    # SoloOS weighs each rank by the candidate's score against its list's best (so a list's clear
    # winner is not matched by another list's barely-better tail); the baseline fuses ranks alone.
    scored = ("dense", "words", "when_words") if context else ()
    union = " UNION ALL ".join(
        f"SELECT id, r, {_WEIGHTS[name]} * {'rel' if name in scored else '1.0'} AS w FROM {name}" for name in lists
    )
    with_sql = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes.items())
    limit = "%(pool)s" if pool else "%(k)s"
    return f"""
        WITH {with_sql},
        fused AS (SELECT id, coalesce(sum(w / (%(rrf)s + r)), 0) AS score FROM ({union}) u GROUP BY id)
        SELECT {columns}, f.score FROM fused f JOIN memories m ON m.id = f.id
        ORDER BY f.score DESC, m.occurred_at DESC LIMIT {limit}"""


_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][\w'&-]*[a-z][\w'&-]*")
_NOT_NAMES = frozenset({"I", "I'm", "I've", "What", "When", "Where", "Which", "Who", "How", "Why", "Did", "Do", "Does"})


def named(query: str) -> list[str]:
    """The names a question mentions (capitalized words not opening a sentence), possessives cut."""
    names: list[str] = []
    for word in _NAME.findall(query):
        word = re.sub(r"'s$", "", word)
        if word not in _NOT_NAMES and word.lower() not in (n.lower() for n in names):
            names.append(word)
    return names


def cover_names(rows: list[dict[str, Any]], k: int, names: Sequence[str]) -> list[dict[str, Any]]:
    """The top ``k`` of ``rows`` (best first), with the best memory naming each of ``names`` in it when
    the pool has one: a question about two clients gets a memory about each, not ten about one."""
    if len(names) < 2:
        return rows[:k]
    wanted = []
    for name in names:
        pattern = re.compile(rf"\b{re.escape(name)}", re.I)
        best = next((row for row in rows if pattern.search(row["text"])), None)
        if best is not None and best not in wanted:
            wanted.append(best)
    top = rows[:k]
    missing = [row for row in wanted if row not in top]
    if not missing:
        return top
    keep = [row for row in top if row in wanted] + [row for row in top if row not in wanted]
    chosen = keep[: k - len(missing)] + missing
    return sorted(chosen, key=rows.index)
