-- Scheduled messages (reminders and the daily briefing) and their delivery log.
-- APScheduler keeps trigger state in its own table (apscheduler_jobs, created by its job store);
-- these tables are what the operator sees and the proof of what was delivered.

CREATE TABLE schedules (
    id            bigserial PRIMARY KEY,
    workspace     text NOT NULL,
    operator      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('reminder', 'briefing')),
    body          text NOT NULL DEFAULT '',
    conversation  text NOT NULL,          -- where it is delivered, e.g. telegram:<chat id>
    timezone      text NOT NULL,          -- IANA name; recurring rules are evaluated in it
    crontab       text,                   -- recurring rule (5 fields, named weekdays); NULL for one-shot
    fire_at       timestamptz,            -- one-shot fire time (also the next one after a snooze)
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'cancelled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((crontab IS NULL) <> (fire_at IS NULL))
);
CREATE INDEX schedules_active ON schedules (workspace, status, kind);
CREATE UNIQUE INDEX schedules_one_briefing ON schedules (workspace, operator)
    WHERE kind = 'briefing' AND status = 'active';

-- One row per (schedule, fire time): the unique key makes delivery at-most-once across restarts
-- and replicas. Job status (did the run happen) and delivery status (did the message arrive) are
-- kept apart, so a run that happened but could not be delivered is never reported as done.
CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    schedule_id      bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at          timestamptz NOT NULL,
    workspace        text NOT NULL,
    job_status       text NOT NULL CHECK (job_status IN ('running', 'ran', 'missed', 'failed')),
    delivery_status  text NOT NULL CHECK (delivery_status IN
                         ('pending', 'sending', 'sent', 'retrying', 'failed', 'uncertain', 'none')),
    body             text NOT NULL DEFAULT '',
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_error       text,
    channel          text,                -- the conversation it finally reached
    started_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    reported_at      timestamptz,          -- when the operator was told about a miss or a failure
    UNIQUE (schedule_id, fire_at)
);
CREATE INDEX deliveries_retry ON deliveries (next_attempt_at) WHERE delivery_status = 'retrying';
CREATE INDEX deliveries_unreported ON deliveries (workspace)
    WHERE reported_at IS NULL AND (job_status IN ('missed', 'failed') OR delivery_status IN ('failed', 'uncertain'));

ALTER TABLE operator_prefs ADD COLUMN timezone text;

-- Calendar events: the canonical record the briefing reads; the calendar connector fills it.
CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    workspace    text NOT NULL,
    title        text NOT NULL CHECK (length(title) > 0),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz,
    location     text,
    source       text,
    external_id  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace, source, external_id)
);
CREATE INDEX events_time ON events (workspace, starts_at);
