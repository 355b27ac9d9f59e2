-- Provenance (issue #14): where a stored fact came from, and whether the operator vouches for it.
--
-- memories.origin     'operator' (chat "remember", rules, the CLI), 'record', 'model', or outside data:
--                     'email:<Message-ID> from <address>', 'calendar:…', 'bank:…'.
-- memories.confirmed  the operator stated or confirmed it. Only a confirmed memory supersedes a confirmed
--                     one on the same subject; an unconfirmed one is recalled labelled with its origin.
-- tasks.origin, contacts.origin  the outside data a row was derived from (NULL: the operator's own).
ALTER TABLE memories ADD COLUMN origin text NOT NULL DEFAULT 'operator';
ALTER TABLE memories ADD COLUMN confirmed boolean NOT NULL DEFAULT true;
CREATE INDEX memories_unconfirmed ON memories (workspace) WHERE NOT confirmed;

ALTER TABLE tasks ADD COLUMN origin text;
ALTER TABLE contacts ADD COLUMN origin text;

-- What intake already took from e-mail is outside data: unconfirmed, with the message it came from.
UPDATE memories m SET confirmed = false,
       origin = i.source_ref || ' from ' || coalesce(i.email, 'an unknown sender')
  FROM intakes i
 WHERE i.memory_id = m.id AND i.channel = 'email';
UPDATE memories SET confirmed = false, origin = 'email (intake)' WHERE source = 'intake:email' AND confirmed;
UPDATE tasks t SET origin = i.source_ref || ' from ' || coalesce(i.email, 'an unknown sender')
  FROM intakes i
 WHERE i.task_id = t.id AND i.channel = 'email';
UPDATE contacts SET origin = 'email from ' || email WHERE source = 'email' AND email IS NOT NULL;
