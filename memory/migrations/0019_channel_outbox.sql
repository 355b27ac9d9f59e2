-- Replies are delivered at least once (issue #15): every reply, press outcome and chart a chat
-- channel owes the operator is a row here, written in the same transaction that records the handled
-- message (handled_intents) and closes its inbox row. A sender delivers the rows of one conversation
-- in order, with retries and backoff, across restarts, and marks a row sent only on success.
CREATE TABLE channel_outbox (
    id              bigserial PRIMARY KEY,
    workspace       text NOT NULL,
    conversation    text NOT NULL,            -- 'telegram:<chat>', 'slack:<channel>'
    intent_key      text,                     -- the handled message it answers
    payload         jsonb NOT NULL,           -- the reply and, for a press, the message it answers
    image           bytea,                    -- a chart, sent after the text
    parts_sent      integer NOT NULL DEFAULT 0,   -- long replies go out in several messages
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sending_by      integer,                  -- the worker sending it now (memory._liveness)
    resent          integer NOT NULL DEFAULT 0,   -- sends that may repeat one cut off by a crash
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    given_up_at     timestamptz
);
CREATE INDEX channel_outbox_unsent ON channel_outbox (workspace, conversation, id) WHERE sent_at IS NULL AND given_up_at IS NULL;
