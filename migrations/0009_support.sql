-- Schema v9: live chat and WebRTC voice from the website widget (the old support module's tables, per tenant).
-- A support session is one chat or call: queued → active (assigned) → ended, or queued → abandoned after the
-- queue timeout (a Durable Object alarm). Its room is a SignalingRoom Durable Object named by room_id.

CREATE TABLE support_settings (
  tenant_id                      TEXT PRIMARY KEY REFERENCES tenants(id),
  auto_assign_enabled            INTEGER NOT NULL DEFAULT 1,
  max_concurrent_chats_per_agent INTEGER NOT NULL DEFAULT 5,
  queue_timeout_seconds          INTEGER NOT NULL DEFAULT 300,
  ring_timeout_seconds           INTEGER NOT NULL DEFAULT 30,   -- a call unanswered this long goes to the next agent
  updated_at                     TEXT NOT NULL
);

-- Staff availability for live conversations, and the round-robin tie-breaker.
ALTER TABLE staff ADD COLUMN support_status TEXT NOT NULL DEFAULT 'offline'
  CHECK (support_status IN ('online', 'away', 'offline'));
ALTER TABLE staff ADD COLUMN support_status_at TEXT;
ALTER TABLE staff ADD COLUMN last_assigned_at TEXT;

CREATE TABLE support_sessions (
  id               TEXT PRIMARY KEY,                    -- session_id (chats) / call_id (calls), UUID
  tenant_id        TEXT NOT NULL REFERENCES tenants(id),
  kind             TEXT NOT NULL CHECK (kind IN ('chat', 'voice')),
  room_id          TEXT NOT NULL UNIQUE,
  customer_name    TEXT NOT NULL,
  customer_email   TEXT,
  customer_peer_id TEXT NOT NULL,                       -- bound into the customer's room token
  status           TEXT NOT NULL CHECK (status IN ('queued', 'active', 'ended', 'abandoned')),
  assigned_to      TEXT REFERENCES staff(staff_id),
  escalated        INTEGER NOT NULL DEFAULT 0,
  declined_by      TEXT NOT NULL DEFAULT '[]',          -- JSON array of staff ids who declined (calls)
  created_at       TEXT NOT NULL,
  first_assigned_at TEXT,                               -- first answer by anyone: wait time, first response
  assigned_at      TEXT,                                -- current assignee since
  ended_at         TEXT,
  end_reason       TEXT,
  ticket_id        TEXT                                 -- the transcript's ticket, once ended
);
CREATE INDEX support_sessions_queue ON support_sessions (tenant_id, status, created_at);
CREATE INDEX support_sessions_agent ON support_sessions (tenant_id, assigned_to, status);

CREATE TABLE chat_messages (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  session_id  TEXT NOT NULL REFERENCES support_sessions(id),
  peer_id     TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'supervisor')),
  sender_name TEXT NOT NULL,
  text        TEXT NOT NULL,                           -- masked before it was stored
  created_at  TEXT NOT NULL
);
CREATE INDEX chat_messages_session ON chat_messages (session_id, created_at);

CREATE TABLE voice_calls (
  id               TEXT PRIMARY KEY,                    -- = support_sessions.id of the call
  tenant_id        TEXT NOT NULL,
  requested_at     TEXT NOT NULL,
  answered_at      TEXT,
  ended_at         TEXT,
  duration_seconds INTEGER,                             -- answered → ended
  end_reason       TEXT                                 -- hangup | declined | abandoned | transferred…
);

CREATE TABLE support_activity (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL,
  session_id TEXT NOT NULL,
  actor_id   TEXT,                                      -- staff id; NULL for the customer or the system
  kind       TEXT NOT NULL,                             -- requested | queued | assigned | accepted | declined |
                                                        -- transferred | escalated | ended | abandoned
  detail     TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL
);
CREATE INDEX support_activity_session ON support_activity (session_id, created_at);
