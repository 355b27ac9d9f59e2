-- Agents, policies and cost: approvals, the audit log, side effects, the spend ledger, the
-- model cache, operator preferences, and the outbox/payments the local connectors write to.

CREATE TABLE approvals (
    id             text PRIMARY KEY,               -- short restart-safe token (callback data)
    workspace      text NOT NULL,
    operator       text NOT NULL,                  -- only this operator may decide
    intent_key     text,
    action_type    text NOT NULL,
    args           jsonb NOT NULL,
    summary        text NOT NULL,
    reason         text NOT NULL,
    risks          jsonb NOT NULL,
    tool_call_id   text NOT NULL,
    run_state      jsonb NOT NULL,                 -- the agent run's messages, to resume it
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'executed', 'failed')),
    requested_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    decided_by     text,
    outcome        text
);
CREATE INDEX approvals_pending ON approvals (workspace, status, requested_at);

CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    operator    text NOT NULL,
    intent_key  text,
    name        text NOT NULL,        -- e.g. action.executed, action.pending, action.denied, undo
    action_type text,
    args        jsonb,
    decision    jsonb,
    approval_id text,
    outcome     text,
    cost        numeric(12, 6) NOT NULL DEFAULT 0,
    undo        jsonb,                -- how to reverse it, when it is reversible
    undone_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_recent ON audit_events (workspace, id DESC);

CREATE TABLE side_effects (
    idempotency_key text PRIMARY KEY,
    workspace       text NOT NULL,
    action_type     text NOT NULL,
    result          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE spend_ledger (
    id            bigserial PRIMARY KEY,
    workspace     text NOT NULL,
    agent         text NOT NULL,
    tier          text NOT NULL,
    model         text NOT NULL,
    input_tokens  integer NOT NULL DEFAULT 0,
    output_tokens integer NOT NULL DEFAULT 0,
    cost          numeric(12, 6) NOT NULL DEFAULT 0,
    cached        boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spend_ledger_time ON spend_ledger (workspace, created_at);

CREATE TABLE model_cache (
    key         text PRIMARY KEY,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE operator_prefs (
    workspace  text NOT NULL,
    operator   text NOT NULL,
    mode       text NOT NULL DEFAULT 'deterministic'
               CHECK (mode IN ('exploratory', 'deterministic', 'creative')),
    PRIMARY KEY (workspace, operator)
);

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    workspace    text NOT NULL,
    channel      text NOT NULL DEFAULT 'email',
    recipient    text NOT NULL,
    subject      text NOT NULL,
    body         text NOT NULL,
    status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('draft', 'queued', 'sent', 'failed', 'cancelled')),
    send_after   timestamptz NOT NULL DEFAULT now(),
    idempotency_key text UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    workspace    text NOT NULL,
    payee        text NOT NULL,
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency     text NOT NULL,
    reference    text,
    status       text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled', 'paid')),
    idempotency_key text UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);
