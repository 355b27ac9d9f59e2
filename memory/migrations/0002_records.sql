-- Canonical records: the authoritative business state. Memories point at them for retrieval.
CREATE TABLE contacts (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    name        text NOT NULL CHECK (length(name) > 0),
    email       text,
    phone       text,
    notes       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_name ON contacts (workspace, lower(name));

CREATE TABLE tasks (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    title       text NOT NULL CHECK (length(title) > 0),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    due_at      timestamptz,
    contact_id  bigint REFERENCES contacts (id) ON DELETE SET NULL,
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz
);
CREATE INDEX tasks_open ON tasks (workspace, status, due_at);

CREATE TABLE notes (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    body        text NOT NULL CHECK (length(body) > 0),
    memory_id   uuid REFERENCES memories (id) ON DELETE SET NULL,
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_workspace ON notes (workspace, created_at DESC);
