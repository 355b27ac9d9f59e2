-- Connector settings (validated before they are saved) and their last health check.
-- Secrets are stored here: protect the database and its backups (docs/decisions.md D21).
CREATE TABLE connector_configs (
    workspace      text NOT NULL,
    name           text NOT NULL,
    config         jsonb NOT NULL,
    saved_at       timestamptz NOT NULL DEFAULT now(),
    healthy        boolean,
    health_detail  text,
    checked_at     timestamptz,
    last_read_at   timestamptz,
    PRIMARY KEY (workspace, name)
);

-- Notices: one-off messages SoloOS sends on its own (a connector stopped working), delivered
-- through the same at-most-once delivery log as reminders.
ALTER TABLE schedules DROP CONSTRAINT schedules_kind_check;
ALTER TABLE schedules ADD CONSTRAINT schedules_kind_check CHECK (kind IN ('reminder', 'briefing', 'notice'));
