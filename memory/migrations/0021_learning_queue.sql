-- Learning (issue #17): what the operator said in a model turn, waiting for the background worker
-- to extract facts from it (mem0, through the fast tier). Queued in the transaction that completes
-- the turn, so a crash or restart loses nothing; claimed with a lease, so a worker that died mid-way
-- leaves it to the next one.
--
-- status      pending (waiting, or its lease ran out), running (claimed until claimed_until),
--             done, skipped (with a reason in last_error: retries used up, nothing left to do).
-- delivery    where the "Noted: …" notice goes (the channel's address, as the reply outbox takes it);
--             NULL for the console.
CREATE TABLE learning_queue (
    id               bigserial PRIMARY KEY,
    workspace        text NOT NULL,
    operator         text NOT NULL,
    conversation     text,
    intent_key       text UNIQUE,
    said             text NOT NULL,
    said_at          timestamptz NOT NULL,
    delivery         jsonb,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    claimed_until    timestamptz,
    last_error       text,
    learned          integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

CREATE INDEX learning_queue_ready ON learning_queue (id) WHERE status IN ('pending', 'running');
