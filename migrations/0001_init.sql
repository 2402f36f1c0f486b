-- Edgedesk schema v1: tenants, staff, Gmail mailboxes, the mail queue, tickets, messages, e-mails, drafts.
-- Every row belongs to a tenant. Timestamps are RFC 3339 UTC strings ('2026-11-22T13:00:00.000Z'), which sort
-- chronologically; lease and token expiries are Unix milliseconds.

CREATE TABLE tenants (
  id                 TEXT PRIMARY KEY,
  name               TEXT NOT NULL,
  -- next ticket sequence number; reserved atomically with UPDATE … RETURNING, never reused
  next_ticket_number INTEGER NOT NULL DEFAULT 1,
  created_at         TEXT NOT NULL
);
INSERT INTO tenants (id, name, created_at) VALUES ('default', 'Default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE staff (
  staff_id      TEXT PRIMARY KEY,
  tenant_id     TEXT NOT NULL REFERENCES tenants(id),
  email         TEXT NOT NULL UNIQUE,            -- lower-cased; login is by e-mail across tenants
  name          TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('owner', 'admin', 'agent')),
  status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  password_hash TEXT NOT NULL,                   -- pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
CREATE INDEX staff_tenant ON staff (tenant_id);

CREATE TABLE mailboxes (
  id                      TEXT PRIMARY KEY,
  tenant_id               TEXT NOT NULL REFERENCES tenants(id),
  address                 TEXT NOT NULL UNIQUE,  -- lower-cased Gmail address
  history_id              TEXT,                  -- Gmail historyId the next incremental sync starts from
  access_token            TEXT,
  access_token_expires_at INTEGER,               -- Unix ms
  lease_until             INTEGER,               -- Unix ms; a poll holds the mailbox until then
  last_poll_at            TEXT,
  last_error              TEXT,
  created_at              TEXT NOT NULL,
  updated_at              TEXT NOT NULL
);

-- Every Gmail message a sync discovered, and what became of it. Discovery and processing are separate so
-- that nothing discovered is lost when a run stops early or Gmail fails.
CREATE TABLE mail_queue (
  mailbox_id       TEXT NOT NULL REFERENCES mailboxes(id),
  gmail_message_id TEXT NOT NULL,
  gmail_thread_id  TEXT,
  status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'skipped', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL DEFAULT 0,   -- Unix ms
  outcome          TEXT,                         -- ticket number, or why it was skipped
  last_error       TEXT,
  discovered_at    TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (mailbox_id, gmail_message_id)
);
CREATE INDEX mail_queue_pending ON mail_queue (mailbox_id, status, next_attempt_at);

CREATE TABLE tickets (
  ticket_id         TEXT PRIMARY KEY,
  tenant_id         TEXT NOT NULL REFERENCES tenants(id),
  ticket_number     TEXT NOT NULL,
  customer_id       TEXT,
  customer_email    TEXT,
  customer_name     TEXT,
  subject           TEXT NOT NULL,
  description       TEXT,
  status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
  priority          TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('urgent', 'high', 'medium', 'low')),
  category          TEXT NOT NULL DEFAULT 'other' CHECK (category IN ('order', 'product', 'billing', 'technical', 'other')),
  channel           TEXT NOT NULL DEFAULT 'email',
  assigned_to       TEXT REFERENCES staff(staff_id),
  mailbox_id        TEXT REFERENCES mailboxes(id),
  sla_due_at        TEXT,
  first_response_at TEXT,
  resolved_at       TEXT,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,
  UNIQUE (tenant_id, ticket_number)
);
CREATE INDEX tickets_list ON tickets (tenant_id, created_at DESC, ticket_id DESC);
CREATE INDEX tickets_status ON tickets (tenant_id, status, created_at DESC);

CREATE TABLE ticket_messages (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  ticket_id   TEXT NOT NULL REFERENCES tickets(ticket_id) ON DELETE CASCADE,
  sender_type TEXT NOT NULL CHECK (sender_type IN ('customer', 'agent', 'system')),
  sender_id   TEXT,
  sender_name TEXT,
  sender_email TEXT,
  content     TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, created_at);

-- The e-mail behind a ticket message (customer mail and our sent replies): ids used for threading.
CREATE TABLE emails (
  message_id       TEXT PRIMARY KEY REFERENCES ticket_messages(id) ON DELETE CASCADE,
  tenant_id        TEXT NOT NULL,
  ticket_id        TEXT NOT NULL REFERENCES tickets(ticket_id) ON DELETE CASCADE,
  mailbox_id       TEXT REFERENCES mailboxes(id),
  gmail_message_id TEXT,
  gmail_thread_id  TEXT,
  rfc_message_id   TEXT,                         -- Message-ID without angle brackets
  in_reply_to      TEXT,
  references_ids   TEXT,                         -- JSON array, oldest first
  from_email       TEXT,
  from_name        TEXT,
  to_email         TEXT,
  subject          TEXT,
  body_html        TEXT,
  has_attachments  INTEGER NOT NULL DEFAULT 0,
  attachments      TEXT,                         -- JSON [{filename, content_type, size}]
  auto_reason      TEXT,                         -- set for auto-replies and bulk mail
  truncated        INTEGER NOT NULL DEFAULT 0,
  labels           TEXT,                         -- JSON array of Gmail label ids
  received_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX emails_gmail_id ON emails (tenant_id, gmail_message_id) WHERE gmail_message_id IS NOT NULL;
CREATE UNIQUE INDEX emails_rfc_id ON emails (tenant_id, rfc_message_id) WHERE rfc_message_id IS NOT NULL;
CREATE INDEX emails_thread ON emails (mailbox_id, gmail_thread_id);
CREATE INDEX emails_ticket ON emails (ticket_id);

-- One AI draft per customer message, from job to Gmail draft (or sent mail in auto mode).
CREATE TABLE drafts (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL,
  ticket_id        TEXT NOT NULL REFERENCES tickets(ticket_id) ON DELETE CASCADE,
  message_id       TEXT NOT NULL UNIQUE REFERENCES ticket_messages(id) ON DELETE CASCADE,
  status           TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'generated', 'created', 'sent', 'failed', 'superseded')),
  source           TEXT CHECK (source IN ('llm', 'template')),
  content          TEXT,
  gmail_draft_id   TEXT,
  gmail_message_id TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL DEFAULT 0,   -- Unix ms
  last_error       TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);
CREATE INDEX drafts_pending ON drafts (status, next_attempt_at);
CREATE INDEX drafts_ticket ON drafts (ticket_id, created_at);
