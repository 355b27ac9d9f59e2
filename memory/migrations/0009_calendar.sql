-- Calendar connector (CalDAV sync, ICS import): what a synced event needs beyond the briefing's columns.
--   uid      the iCalendar UID; every occurrence of a recurring event shares it (external_id tells
--            them apart), so re-importing a series replaces all its occurrences
--   all_day  the event is a date, not a time: starts_at/ends_at hold midnight UTC of its first day
--            and of the day after its last, and readers place it on the operator's local calendar
--   busy     false for TRANSP:TRANSPARENT events (they never block a free slot)
ALTER TABLE events
    ADD COLUMN uid        text,
    ADD COLUMN all_day    boolean NOT NULL DEFAULT false,
    ADD COLUMN busy       boolean NOT NULL DEFAULT true,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT events_end_after_start CHECK (ends_at IS NULL OR ends_at >= starts_at) NOT VALID;  -- new rows only

CREATE INDEX events_uid ON events (workspace, source, uid);
