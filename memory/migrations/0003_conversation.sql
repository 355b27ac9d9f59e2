-- Intents already handled (exactly-once across redeliveries) and the conversation transcript
-- that working memory is assembled from.
CREATE TABLE handled_intents (
    idempotency_key text PRIMARY KEY,
    workspace       text NOT NULL,
    reply           jsonb NOT NULL,
    handled_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversation_turns (
    id            bigserial PRIMARY KEY,
    workspace     text NOT NULL,
    conversation  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('operator', 'assistant')),
    text          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_turns_recent ON conversation_turns (workspace, conversation, id DESC);
