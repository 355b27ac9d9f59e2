-- E-mail: messages read over IMAP (and the ones SoloOS sent), the IMAP read cursor, and the outbox
-- delivery states the e-mail connector needs.
--
-- thread_id  the Message-ID at the root of the References / In-Reply-To chain (or the message's own
--            Message-ID), so a reply lands in the thread of the message it answers
-- untrusted  the text came from outside: whoever wrote it is not the operator. Every place that
--            shows it to a model fences it as data (agents/untrusted.py). Only messages SoloOS sent
--            itself are stored with false.
CREATE TABLE messages (
    id           bigserial PRIMARY KEY,
    workspace    text NOT NULL,
    account      text NOT NULL CHECK (length(account) > 0),       -- the mailbox address, lower case
    message_id   text NOT NULL CHECK (length(message_id) > 0),
    thread_id    text NOT NULL CHECK (length(thread_id) > 0),
    in_reply_to  text,
    from_addr    text NOT NULL CHECK (position('@' IN from_addr) > 1),
    from_name    text NOT NULL DEFAULT '',
    to_addrs     text[] NOT NULL DEFAULT '{}',
    cc_addrs     text[] NOT NULL DEFAULT '{}',
    subject      text NOT NULL DEFAULT '',
    body_text    text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL,
    contact_id   bigint REFERENCES contacts (id) ON DELETE SET NULL,
    untrusted    boolean NOT NULL DEFAULT true,
    uid          bigint,                                           -- IMAP UID it was read under
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace, account, message_id)
);
CREATE INDEX messages_recent ON messages (workspace, received_at DESC);
CREATE INDEX messages_thread ON messages (workspace, thread_id, received_at DESC);
CREATE INDEX messages_message_id ON messages (workspace, message_id);

-- Where reading stopped, per mailbox. A new UIDVALIDITY means the server renumbered the mailbox:
-- the connector starts over, and the UNIQUE key above turns the re-read into duplicates.
CREATE TABLE mail_cursors (
    workspace    text NOT NULL,
    account      text NOT NULL,
    mailbox      text NOT NULL,
    uidvalidity  bigint NOT NULL,
    last_uid     bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace, account, mailbox)
);

-- Contacts are found by address when mail arrives. Not unique: contacts entered by hand may share
-- an address, and this migration must not fail on them. ``source`` says where a contact came from
-- ('email' when a message created it): anyone can write to you, so such a contact is not vouched for.
CREATE INDEX contacts_email ON contacts (workspace, lower(email)) WHERE email IS NOT NULL;
ALTER TABLE contacts ADD COLUMN source text;

-- Outbox delivery: queued → sending (claimed under a row lock, committed before the SMTP call) →
-- sent | failed; a temporary failure goes back to 'queued' with a later send_after. A row left in 'sending' by a crash is never sent again automatically: it may
-- or may not have gone out, and the operator decides.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('draft', 'queued', 'sending', 'sent', 'failed', 'cancelled'));
ALTER TABLE outbox
    ADD COLUMN attempts     int NOT NULL DEFAULT 0,
    ADD COLUMN attempted_at timestamptz,
    ADD COLUMN sent_at      timestamptz,
    ADD COLUMN message_id   text,
    ADD COLUMN error        text;
CREATE INDEX outbox_due ON outbox (send_after) WHERE status = 'queued';
