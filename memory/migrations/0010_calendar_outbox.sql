-- Calendar writes through the policy gate: the gate's ``calendar.create`` executor records the event
-- here (source 'soloos') in its own transaction; the calendar connector's ``flush`` carries it out.
--   push_status  NULL       an event brought in by a sync or an import
--                pending    not yet on the CalDAV server
--                pushed     on the server; the row now belongs to the sync (source 'caldav')
--                failed     the server refused it for good; push_error says why
--                cancelled  undone after it reached the server: the next flush deletes it there
--   push_error   why the last push (or deletion) did not work; cleared when one works
--   push_key     the gate's idempotency key; the event's UID derives from it, so pushing it again
--                after a crash finds the event instead of adding a second one
--   attendee     the e-mail address the event was made with (the policy's counterparty)
ALTER TABLE events
    ADD COLUMN push_status text CHECK (push_status IN ('pending', 'pushed', 'failed', 'cancelled')),
    ADD COLUMN push_error  text,
    ADD COLUMN push_key    text,
    ADD COLUMN attendee    text,
    ADD CONSTRAINT events_push_key CHECK (push_status IS NULL OR push_key IS NOT NULL);

CREATE INDEX events_to_push ON events (workspace, id) WHERE push_status IN ('pending', 'cancelled');
