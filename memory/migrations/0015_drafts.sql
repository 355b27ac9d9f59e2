-- Work surfaces (issue #7): versioned drafts and client intake.
--
-- drafts      every draft (e-mail, proposal, post, reply) as versions of one ``thread`` (a stable key
--             from kind + counterparty + title). ``inputs`` holds what produced a version (instructions,
--             base version, tone, mode, facts); ``inputs_hash`` finds a version made from identical
--             inputs, so asking again reuses it instead of calling a model. ``approval_id`` is the
--             ``email.send`` approval that would send it (the gate decides; nothing here sends).
-- intakes     one row per lead, unique per source message, so a redelivered message or a repeated
--             "new lead" is never taken twice. ``claimed_at`` lets a redelivery resume a lead whose
--             worker died half-way; ``done_at`` says every step is recorded. ``replied_at`` is when
--             the first e-mail to the lead actually went out (outbox 'sent').
-- messages.automated  the connector saw headers of machine-sent mail (Auto-Submitted, List-Id,
--             List-Unsubscribe, Precedence bulk/list/junk); intake never takes such mail as a lead.
CREATE TABLE drafts (
    id            bigserial PRIMARY KEY,
    workspace     text NOT NULL,
    thread        text NOT NULL CHECK (length(thread) > 0),
    kind          text NOT NULL CHECK (kind IN ('email', 'proposal', 'post', 'reply')),
    title         text NOT NULL CHECK (length(title) > 0),
    counterparty  text,
    version       int NOT NULL CHECK (version > 0),
    subject       text NOT NULL DEFAULT '',
    body          text NOT NULL,
    inputs        jsonb NOT NULL DEFAULT '{}',
    inputs_hash   text NOT NULL,
    parent_id     bigint REFERENCES drafts (id) ON DELETE SET NULL,
    created_by    text NOT NULL CHECK (created_by IN ('agent', 'operator', 'intake', 'plan')),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'discarded')),
    approval_id   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace, thread, version)
);
CREATE INDEX drafts_inputs ON drafts (workspace, inputs_hash);
CREATE INDEX drafts_recent ON drafts (workspace, created_at DESC);

CREATE TABLE intakes (
    id             bigserial PRIMARY KEY,
    workspace      text NOT NULL,
    source_ref     text NOT NULL CHECK (length(source_ref) > 0),  -- 'email:<Message-ID>' or 'chat:<address>'
    channel        text NOT NULL CHECK (channel IN ('email', 'chat')),
    name           text NOT NULL,
    email          text,
    need           text NOT NULL DEFAULT '',
    contact_id     bigint REFERENCES contacts (id) ON DELETE SET NULL,
    memory_id      uuid,
    draft_id       bigint REFERENCES drafts (id) ON DELETE SET NULL,
    approval_id    text,
    task_id        bigint REFERENCES tasks (id) ON DELETE SET NULL,
    first_seen_at  timestamptz NOT NULL,
    replied_at     timestamptz,
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    done_at        timestamptz,
    UNIQUE (workspace, source_ref)
);
CREATE INDEX intakes_email ON intakes (workspace, lower(email)) WHERE email IS NOT NULL;

ALTER TABLE messages ADD COLUMN automated boolean NOT NULL DEFAULT false;
