-- Provenance (issue #14): where a stored fact came from, and whether the operator vouches for it.
--
-- memories.origin     'operator' (chat "remember", rules, the CLI), 'record', 'model', or outside data:
--                     'email:<Message-ID> from <address>', 'calendar:…', 'bank:…', 'import:<file>'.
-- memories.confirmed  the operator stated or confirmed it. Only a confirmed memory supersedes an
--                     older one on the same subject; an unconfirmed one is recalled with its origin.
-- tasks.origin, contacts.origin  the outside data a row was derived from (NULL: the operator's own).
ALTER TABLE memories ADD COLUMN origin text NOT NULL DEFAULT 'operator';
ALTER TABLE memories ADD COLUMN confirmed boolean NOT NULL DEFAULT true;
UPDATE memories SET origin = coalesce(source, 'intake'), confirmed = false WHERE source LIKE 'intake:email%';
CREATE INDEX memories_unconfirmed ON memories (workspace) WHERE NOT confirmed;

ALTER TABLE tasks ADD COLUMN origin text;
ALTER TABLE contacts ADD COLUMN origin text;
