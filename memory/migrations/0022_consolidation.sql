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
