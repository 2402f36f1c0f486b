-- Schema v3: five staff roles with teams and session versions, ticket tags, merges, internal notes, the
-- activity log, canned responses, AI-draft edit distances and full-text search (FTS5).

-- Roles owner > admin > supervisor > team_lead > agent. SQLite cannot change a CHECK constraint in place, so
-- the staff table is rebuilt (foreign keys to it are checked at commit, as D1 recommends for such rebuilds).
-- Dropping a table deletes its rows first, which would break tickets.assigned_to at commit even though the same
-- ids come back: assignments are set aside and restored around the rebuild.
PRAGMA defer_foreign_keys = on;
CREATE TABLE assignments_v3 AS SELECT ticket_id, assigned_to FROM tickets WHERE assigned_to IS NOT NULL;
UPDATE tickets SET assigned_to = NULL WHERE assigned_to IS NOT NULL;
CREATE TABLE staff_v3 (
  staff_id             TEXT PRIMARY KEY,
  tenant_id            TEXT NOT NULL REFERENCES tenants(id),
  email                TEXT NOT NULL UNIQUE,      -- lower-cased; login is by e-mail across tenants
  name                 TEXT NOT NULL,
  role                 TEXT NOT NULL DEFAULT 'agent'
                       CHECK (role IN ('owner', 'admin', 'supervisor', 'team_lead', 'agent')),
  team                 TEXT,                      -- free-form team name; team leads manage their team
  status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  password_hash        TEXT NOT NULL,             -- pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>
  must_change_password INTEGER NOT NULL DEFAULT 0,
  session_version      INTEGER NOT NULL DEFAULT 1, -- in every token; bumped to revoke all tokens at once
  created_at           TEXT NOT NULL,
  updated_at           TEXT NOT NULL
);
INSERT INTO staff_v3 (staff_id, tenant_id, email, name, role, status, password_hash, created_at, updated_at)
  SELECT staff_id, tenant_id, email, name, role, status, password_hash, created_at, updated_at FROM staff;
DROP TABLE staff;
ALTER TABLE staff_v3 RENAME TO staff;
CREATE INDEX staff_tenant ON staff (tenant_id, team);
UPDATE tickets SET assigned_to = (SELECT a.assigned_to FROM assignments_v3 a WHERE a.ticket_id = tickets.ticket_id)
  WHERE ticket_id IN (SELECT ticket_id FROM assignments_v3);
DROP TABLE assignments_v3;

-- Internal notes are agent messages with internal = 1 (the API shows them as sender_type "note").
ALTER TABLE ticket_messages ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ticket_messages_sender ON ticket_messages (tenant_id, sender_id, created_at);

ALTER TABLE tickets ADD COLUMN merged_into TEXT;   -- ticket_id this one was merged into
CREATE INDEX tickets_customer ON tickets (tenant_id, customer_email);
CREATE INDEX tickets_assignee ON tickets (tenant_id, assigned_to, status);

CREATE TABLE ticket_tags (
  tenant_id TEXT NOT NULL,
  ticket_id TEXT NOT NULL REFERENCES tickets(ticket_id) ON DELETE CASCADE,
  tag       TEXT NOT NULL,                        -- lower-case, a-z0-9 _ - . : (1-40)
  PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags (tenant_id, tag);

-- Who changed what, when (the ticket's activity log).
CREATE TABLE ticket_events (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL,
  ticket_id  TEXT NOT NULL REFERENCES tickets(ticket_id) ON DELETE CASCADE,
  actor_id   TEXT,                                -- staff id; NULL for Edgedesk itself
  kind       TEXT NOT NULL,
  detail     TEXT NOT NULL DEFAULT '{}',          -- JSON object
  created_at TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, created_at);

CREATE TABLE canned_responses (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  title      TEXT NOT NULL,
  shortcut   TEXT NOT NULL,
  body       TEXT NOT NULL,
  created_by TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (tenant_id, shortcut)
);

-- How much the agent changed an AI draft before sending it (Levenshtein distance in characters).
ALTER TABLE drafts ADD COLUMN edit_distance INTEGER;
ALTER TABLE drafts ADD COLUMN sent_content_length INTEGER;
ALTER TABLE drafts ADD COLUMN sent_by TEXT;
ALTER TABLE drafts ADD COLUMN sent_at TEXT;

-- Full-text search over ticket subjects and message bodies. One row per ticket (kind 'ticket', ref = ticket id)
-- and one per message (kind 'message', ref = message id); triggers keep it in step with the tables.
CREATE VIRTUAL TABLE search_fts USING fts5(
  body, tenant_id UNINDEXED, ticket_id UNINDEXED, ref UNINDEXED,
  tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search_fts (body, tenant_id, ticket_id, ref)
  SELECT subject || ' ' || coalesce(customer_name, '') || ' ' || coalesce(customer_email, ''), tenant_id, ticket_id, ticket_id
  FROM tickets;
INSERT INTO search_fts (body, tenant_id, ticket_id, ref)
  SELECT content, tenant_id, ticket_id, id FROM ticket_messages;
CREATE TRIGGER search_ticket_insert AFTER INSERT ON tickets BEGIN
  INSERT INTO search_fts (body, tenant_id, ticket_id, ref)
  VALUES (new.subject || ' ' || coalesce(new.customer_name, '') || ' ' || coalesce(new.customer_email, ''), new.tenant_id, new.ticket_id, new.ticket_id);
END;
CREATE TRIGGER search_ticket_delete AFTER DELETE ON tickets BEGIN
  DELETE FROM search_fts WHERE ticket_id = old.ticket_id;
END;
CREATE TRIGGER search_message_insert AFTER INSERT ON ticket_messages BEGIN
  INSERT INTO search_fts (body, tenant_id, ticket_id, ref) VALUES (new.content, new.tenant_id, new.ticket_id, new.id);
END;
CREATE TRIGGER search_message_move AFTER UPDATE OF ticket_id ON ticket_messages BEGIN
  UPDATE search_fts SET ticket_id = new.ticket_id WHERE ref = new.id;
END;
CREATE TRIGGER search_message_delete AFTER DELETE ON ticket_messages BEGIN
  DELETE FROM search_fts WHERE ref = old.id;
END;
