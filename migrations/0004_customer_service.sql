-- Schema v4: phone and SMS customer service (Twilio webhooks, Zapier CRM lookups, lead capture).
-- Secrets (Twilio auth token, Zapier callback secret) are stored AES-256-GCM encrypted with the CS_ENCRYPTION_KEY
-- secret: 'v1:' || base64(12-byte nonce || ciphertext+tag).

CREATE TABLE cs_configs (
  tenant_id                       TEXT PRIMARY KEY REFERENCES tenants(id),
  config                          TEXT NOT NULL,   -- JSON of domain::cs::CsConfig (no secrets)
  twilio_auth_token_enc           TEXT,
  zapier_callback_secret_enc      TEXT,
  updated_at                      TEXT NOT NULL
);

-- Inbound webhooks find their tenant by the number Twilio called (E.164, unique across tenants).
CREATE TABLE cs_phone_numbers (
  phone_number TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL REFERENCES tenants(id)
);

-- Every Zapier request: lookup or query, pending → completed | failed | timeout.
CREATE TABLE zapier_requests (
  correlation_id  TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  type            TEXT NOT NULL CHECK (type IN ('customer_lookup', 'customer_query')),
  phone_number    TEXT NOT NULL,
  conversation_id TEXT,
  question        TEXT,
  status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed', 'timeout')),
  response        TEXT,                             -- the callback's JSON `data`
  error           TEXT,
  created_at_ms   INTEGER NOT NULL,
  timeout_at_ms   INTEGER NOT NULL,
  finished_at_ms  INTEGER,
  latency_ms      INTEGER
);
CREATE INDEX zapier_requests_pending ON zapier_requests (status, timeout_at_ms);
CREATE INDEX zapier_requests_tenant ON zapier_requests (tenant_id, created_at_ms);

-- Customers looked up through Zapier (found or not), valid until expires_at_ms.
CREATE TABLE cs_customers (
  tenant_id     TEXT NOT NULL,
  phone_number  TEXT NOT NULL,
  found         INTEGER NOT NULL,
  crm_id        TEXT,
  name          TEXT,
  email         TEXT,
  data          TEXT,                               -- JSON customer_data
  fetched_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, phone_number)
);

-- Each lookup decision, for the cache hit rate.
CREATE TABLE cs_lookups (
  tenant_id  TEXT NOT NULL,
  at_ms      INTEGER NOT NULL,
  cache_hit  INTEGER NOT NULL
);
CREATE INDEX cs_lookups_tenant ON cs_lookups (tenant_id, at_ms);

-- One conversation per caller and channel while it is open; it is a ticket's SMS or call thread.
CREATE TABLE cs_conversations (
  id             TEXT PRIMARY KEY,
  tenant_id      TEXT NOT NULL,
  channel        TEXT NOT NULL CHECK (channel IN ('sms', 'voice')),
  phone_number   TEXT NOT NULL,
  our_number     TEXT NOT NULL,
  ticket_id      TEXT NOT NULL REFERENCES tickets(ticket_id),
  call_sid       TEXT,
  state          TEXT NOT NULL DEFAULT 'new',        -- new | lookup | ready | lead_name | lead_email | done
  lead_name      TEXT,
  pending_question TEXT,                            -- asked while the lookup ran
  answer         TEXT,                              -- voice: the answer waiting to be spoken
  answer_turn    INTEGER NOT NULL DEFAULT 0,
  polls          INTEGER NOT NULL DEFAULT 0,         -- voice: redirects while waiting
  created_at_ms  INTEGER NOT NULL,
  updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX cs_conversations_open ON cs_conversations (tenant_id, phone_number, channel, updated_at_ms);
CREATE UNIQUE INDEX cs_conversations_call ON cs_conversations (call_sid) WHERE call_sid IS NOT NULL;

-- Webhooks already answered (MessageSid, or CallSid + a digest of the parameters), with the TwiML we gave:
-- a Twilio retry gets the same answer and causes nothing again.
CREATE TABLE cs_webhooks (
  idempotency_key TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  twiml           TEXT NOT NULL,
  at_ms           INTEGER NOT NULL
);

-- Numbers that texted STOP: nothing is sent to them until START.
CREATE TABLE cs_opt_outs (
  tenant_id    TEXT NOT NULL,
  phone_number TEXT NOT NULL,
  at_ms        INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, phone_number)
);

-- Twilio message SIDs of SMS we sent or received, by ticket message.
ALTER TABLE ticket_messages ADD COLUMN twilio_sid TEXT;
CREATE UNIQUE INDEX ticket_messages_twilio_sid ON ticket_messages (twilio_sid) WHERE twilio_sid IS NOT NULL;
ALTER TABLE tickets ADD COLUMN customer_phone TEXT;
CREATE INDEX tickets_phone ON tickets (tenant_id, customer_phone);
