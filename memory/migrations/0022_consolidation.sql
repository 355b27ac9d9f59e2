-- Consolidation (issue #17): working memory compacted into project memory on a schedule.
--
-- conversation_turns.consolidated_at  when the operator turn's facts were written to project memory
--                                     (NULL: not yet). Only consolidated turns are ever pruned, and a
--                                     rerun skips them: the run is idempotent and a crash loses nothing.
ALTER TABLE conversation_turns ADD COLUMN consolidated_at timestamptz;
CREATE INDEX conversation_turns_unconsolidated ON conversation_turns (workspace, id)
    WHERE consolidated_at IS NULL AND role = 'operator';
CREATE INDEX memories_learned ON memories (workspace, created_at DESC)
    WHERE source IN ('learned', 'told', 'consolidated');

-- A learned fact forgotten with its Forget button, kept so that /undo can bring it back (the row as
-- JSON, without its generated full-text column); consolidation drops these after 30 days.
CREATE TABLE forgotten_memories (
    id            uuid PRIMARY KEY,
    workspace     text NOT NULL,
    row           jsonb NOT NULL,
    forgotten_at  timestamptz NOT NULL
);
CREATE INDEX forgotten_memories_age ON forgotten_memories (workspace, forgotten_at);
