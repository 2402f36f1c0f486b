-- Schema v6: Instagram and Facebook Messenger as channels. Per tenant: the Facebook page and Instagram
-- professional account it answers for, the webhook verify token, and the page access token and app secret
-- (AES-256-GCM sealed with CS_ENCRYPTION_KEY, 'v1:' + base64).

CREATE TABLE meta_configs (
  tenant_id             TEXT PRIMARY KEY REFERENCES tenants(id),
  page_id               TEXT,
  instagram_account_id  TEXT,
  verify_token          TEXT,
  page_access_token_enc TEXT,
  app_secret_enc        TEXT,
  updated_at            TEXT NOT NULL
);
CREATE UNIQUE INDEX meta_configs_page ON meta_configs (page_id) WHERE page_id IS NOT NULL;
CREATE UNIQUE INDEX meta_configs_instagram ON meta_configs (instagram_account_id) WHERE instagram_account_id IS NOT NULL;
CREATE UNIQUE INDEX meta_configs_verify ON meta_configs (verify_token) WHERE verify_token IS NOT NULL;

-- Meta message ids (`mid`) of DMs received or sent: a redelivered webhook adds nothing.
ALTER TABLE ticket_messages ADD COLUMN meta_mid TEXT;
CREATE UNIQUE INDEX ticket_messages_meta_mid ON ticket_messages (tenant_id, meta_mid) WHERE meta_mid IS NOT NULL;
