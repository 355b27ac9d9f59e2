-- A queued reply remembers the message it answers, so it goes out in the same thread
-- (In-Reply-To and References), e.g. the first reply to a lead's e-mail.
ALTER TABLE outbox ADD COLUMN in_reply_to text CHECK (length(in_reply_to) <= 998);
