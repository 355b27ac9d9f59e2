-- Updates a chat channel fetched, stored before they are acknowledged to the platform, so an
-- update fetched by a process that then dies is handled after the restart instead of being lost.
CREATE TABLE channel_inbox (
    channel     text NOT NULL,
    bot         text NOT NULL,
    update_id   bigint NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz,
    PRIMARY KEY (channel, bot, update_id)
);
CREATE INDEX channel_inbox_pending ON channel_inbox (channel, bot, update_id) WHERE done_at IS NULL;
