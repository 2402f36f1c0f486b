-- Schema v8: tickets by creation time (the CRM enrichment sweep) and LiveChat handoffs (POST /api/v1/handoff/create): which conversation went to which LiveChat chat, when
-- and by whom, and what LiveChat said about it (assigned agent or queue wait).

CREATE TABLE crm_handoffs (
  id                     TEXT PRIMARY KEY,               -- UUID
  tenant_id              TEXT NOT NULL REFERENCES tenants(id),
  connection_id          TEXT NOT NULL,                  -- the livechat connection used (kept if it is deleted)
  ticket_id              TEXT,                           -- the Edgedesk ticket handed over, if any
  call_id                TEXT,                           -- Twilio CallSid (or the caller's own id) from the context
  chat_id                TEXT NOT NULL,                  -- LiveChat chat id (= handoff_id)
  status                 TEXT NOT NULL,                  -- assigned | queued | pending
  agent_id               TEXT,
  agent_name             TEXT,
  estimated_wait_seconds INTEGER NOT NULL DEFAULT 0,
  reason                 TEXT,
  urgency                TEXT NOT NULL,
  created_by             TEXT,                           -- staff id
  created_at             TEXT NOT NULL
);
CREATE INDEX crm_handoffs_tenant ON crm_handoffs (tenant_id, created_at);
CREATE INDEX crm_handoffs_ticket ON crm_handoffs (tenant_id, ticket_id);
CREATE INDEX tickets_created ON tickets (created_at);

-- CRM enrichment attempts of a ticket whose lookup failed (vendor down, refused, rate limited): the sweep retries
-- with backoff (1, 2, 4, 8 minutes) and gives up after 5 attempts, so failing tickets never block the others.
ALTER TABLE tickets ADD COLUMN crm_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN crm_retry_at_ms INTEGER NOT NULL DEFAULT 0;
