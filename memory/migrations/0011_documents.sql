-- Documents: files that came with a message (e-mail attachments), one row per attachment, written
-- in the same transaction as the message.
--
-- content  the file's bytes, or NULL when it is larger than the connector keeps (the metadata and
--          the checksum are kept either way). Attachment content is untrusted and is never shown
--          to a model.
CREATE TABLE documents (
    id          bigserial PRIMARY KEY,
    workspace   text NOT NULL,
    source      text NOT NULL CHECK (source IN ('email')),
    message_id  bigint REFERENCES messages (id) ON DELETE CASCADE,
    name        text NOT NULL,
    media_type  text NOT NULL,
    size_bytes  int NOT NULL CHECK (size_bytes >= 0),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content     bytea CHECK (content IS NULL OR octet_length(content) = size_bytes),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace, message_id, sha256, name)
);
CREATE INDEX documents_recent ON documents (workspace, created_at DESC);
