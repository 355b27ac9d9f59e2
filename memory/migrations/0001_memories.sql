-- Memories: one table that is both the authoritative state and the retrieval index.
-- Its (id, vector, payload) shape is the one mem0's pgvector store reads, so mem0 tooling sees
-- the same rows; the typed columns and the full-text vector are ours.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE memories (
    id            uuid PRIMARY KEY,
    vector        vector(384) NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    workspace     text NOT NULL,
    layer         text NOT NULL CHECK (layer IN ('working', 'project', 'institutional')),
    text          text NOT NULL CHECK (length(text) > 0),
    subject       text,
    source        text,
    occurred_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    content_hash  text NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);

CREATE UNIQUE INDEX memories_dedupe ON memories (workspace, layer, content_hash);
CREATE INDEX memories_scope ON memories (workspace, layer, occurred_at DESC);
CREATE INDEX memories_subject ON memories (workspace, subject, occurred_at DESC) WHERE subject IS NOT NULL;
CREATE INDEX memories_tsv ON memories USING gin (tsv);
CREATE INDEX memories_vector ON memories USING hnsw (vector vector_cosine_ops);
