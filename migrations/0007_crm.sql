-- Schema v7: CRM connections (Salesforce, Zendesk, HubSpot, Freshdesk, LiveChat) and their response cache.
-- Secrets (API tokens, OAuth client secret and refresh token, personal access token) are one JSON object sealed
-- with CS_ENCRYPTION_KEY ('v1:' + base64 of AES-256-GCM); never returned by the API.

CREATE TABLE crm_connections (
  id                TEXT PRIMARY KEY,
  tenant_id         TEXT NOT NULL REFERENCES tenants(id),
  type              TEXT NOT NULL CHECK (type IN ('salesforce', 'zendesk', 'hubspot', 'freshdesk', 'livechat')),
  name              TEXT NOT NULL,
  base_url          TEXT NOT NULL,                   -- the vendor's API base, overridable (sandboxes, tests)
  settings          TEXT NOT NULL DEFAULT '{}',      -- JSON: non-secret fields (e-mail, account id, client id…)
  secrets_enc       TEXT,
  is_primary        INTEGER NOT NULL DEFAULT 0,      -- the CRM tickets are enriched from
  cache_ttl_seconds INTEGER NOT NULL DEFAULT 600,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL
);
CREATE INDEX crm_connections_tenant ON crm_connections (tenant_id, type);

CREATE TABLE crm_cache (
  connection_id TEXT NOT NULL REFERENCES crm_connections(id) ON DELETE CASCADE,
  key           TEXT NOT NULL,                       -- e.g. customer:email:ana@example.com
  value         TEXT NOT NULL,                       -- JSON of the unified record
  expires_at_ms INTEGER NOT NULL,
  PRIMARY KEY (connection_id, key)
);

-- The customer's record in the tenant's primary CRM, attached to the ticket (JSON of the unified customer, or
-- {"found":false}); shown on the ticket and summarised in the AI draft prompt.
ALTER TABLE tickets ADD COLUMN crm_customer TEXT;
