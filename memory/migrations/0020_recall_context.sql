-- Recall that generalizes (issue 17).
--
-- memories.context  what a memory is searched with besides its own words: the neighbouring memories of
--                   the same session (or day), the speaker and the date in words ("7 May 2025",
--                   "May 2025"). It is indexed at a lower weight (D) than the memory's own text (A).
-- memory_lexemes    per workspace, how many memories contain each lexeme (text or context), and under
--                   the empty lexeme how many memories there are: the IDF of a BM25-like text ranking.
--                   Kept by statement-level triggers, so every writer (remember, import, delete) counts.
ALTER TABLE memories ADD COLUMN context text NOT NULL DEFAULT '';

DROP INDEX memories_tsv;
ALTER TABLE memories DROP COLUMN tsv;
ALTER TABLE memories ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', text), 'A') || setweight(to_tsvector('english', context), 'D')
) STORED;
CREATE INDEX memories_tsv ON memories USING gin (tsv);

-- Memories stored before this migration are searched with their date in words.
UPDATE memories SET context = to_char(occurred_at AT TIME ZONE 'UTC', 'FMDD FMMonth YYYY, FMMonth YYYY, FMDay');

CREATE TABLE memory_lexemes (
    workspace  text NOT NULL,
    lexeme     text NOT NULL,
    docs       integer NOT NULL,
    PRIMARY KEY (workspace, lexeme)
);

-- Rows are counted in (workspace, lexeme) order, so concurrent writers lock them in the same order.
CREATE FUNCTION memory_lexemes_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_lexemes (workspace, lexeme, docs)
    SELECT workspace, lexeme, count(*) FROM (
        SELECT workspace, unnest(tsvector_to_array(tsv)) AS lexeme FROM added_rows
        UNION ALL SELECT workspace, '' FROM added_rows) x
    GROUP BY workspace, lexeme ORDER BY workspace, lexeme
    ON CONFLICT (workspace, lexeme) DO UPDATE SET docs = memory_lexemes.docs + EXCLUDED.docs;
    RETURN NULL;
END $$;

CREATE FUNCTION memory_lexemes_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_lexemes (workspace, lexeme, docs)
    SELECT workspace, lexeme, -count(*) FROM (
        SELECT workspace, unnest(tsvector_to_array(tsv)) AS lexeme FROM removed_rows
        UNION ALL SELECT workspace, '' FROM removed_rows) x
    GROUP BY workspace, lexeme ORDER BY workspace, lexeme
    ON CONFLICT (workspace, lexeme) DO UPDATE SET docs = memory_lexemes.docs + EXCLUDED.docs;
    RETURN NULL;
END $$;

-- An update that changes what is searched moves the counts from the old words to the new ones.
CREATE FUNCTION memory_lexemes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_lexemes (workspace, lexeme, docs)
    SELECT workspace, lexeme, sum(delta) FROM (
        SELECT o.workspace, unnest(tsvector_to_array(o.tsv)) AS lexeme, -1 AS delta
          FROM removed_rows o JOIN added_rows n ON n.id = o.id
         WHERE o.tsv IS DISTINCT FROM n.tsv OR o.workspace IS DISTINCT FROM n.workspace
        UNION ALL
        SELECT n.workspace, unnest(tsvector_to_array(n.tsv)), 1
          FROM removed_rows o JOIN added_rows n ON n.id = o.id
         WHERE o.tsv IS DISTINCT FROM n.tsv OR o.workspace IS DISTINCT FROM n.workspace) x
    GROUP BY workspace, lexeme ORDER BY workspace, lexeme
    ON CONFLICT (workspace, lexeme) DO UPDATE SET docs = memory_lexemes.docs + EXCLUDED.docs;
    RETURN NULL;
END $$;

CREATE TRIGGER memories_lexemes_added AFTER INSERT ON memories
    REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT EXECUTE FUNCTION memory_lexemes_added();
CREATE TRIGGER memories_lexemes_removed AFTER DELETE ON memories
    REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT EXECUTE FUNCTION memory_lexemes_removed();
CREATE TRIGGER memories_lexemes_changed AFTER UPDATE ON memories
    REFERENCING OLD TABLE AS removed_rows NEW TABLE AS added_rows
    FOR EACH STATEMENT EXECUTE FUNCTION memory_lexemes_changed();

INSERT INTO memory_lexemes (workspace, lexeme, docs)
SELECT workspace, lexeme, count(*) FROM (
    SELECT workspace, unnest(tsvector_to_array(tsv)) AS lexeme FROM memories
    UNION ALL SELECT workspace, '' FROM memories) x
GROUP BY workspace, lexeme;
