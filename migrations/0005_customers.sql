-- Schema v5: one customer registry across channels. A customer has identities (e-mail, E.164 phone, Messenger
-- PSID, Instagram IGSID; the latter two scoped by page / Instagram account id), and tickets point at it.

CREATE TABLE customers (
  id                    TEXT PRIMARY KEY,
  tenant_id             TEXT NOT NULL REFERENCES tenants(id),
  name                  TEXT,
  first_name            TEXT,
  last_name             TEXT,
  profile_pic_url       TEXT,
  blocked               INTEGER NOT NULL DEFAULT 0,
  notes                 TEXT,
  last_interaction_at   TEXT,
  profile_status        TEXT NOT NULL DEFAULT 'none' CHECK (profile_status IN ('none', 'pending', 'fetched', 'failed')),
  profile_fetched_at_ms INTEGER,
  erased_at             TEXT,                          -- set by a GDPR erasure: the personal fields are gone
  created_at            TEXT NOT NULL,
  updated_at            TEXT NOT NULL
);
CREATE INDEX customers_tenant ON customers (tenant_id, created_at);

CREATE TABLE customer_identities (
  tenant_id   TEXT NOT NULL,
  customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL CHECK (kind IN ('email', 'phone', 'psid', 'igsid')),
  scope       TEXT NOT NULL DEFAULT '',               -- Facebook page id / Instagram account id for psid / igsid
  value       TEXT NOT NULL,                          -- lower-cased e-mail, E.164 phone, or the Meta id
  created_at  TEXT NOT NULL,
  PRIMARY KEY (tenant_id, kind, scope, value)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);
CREATE INDEX tickets_customer_id ON tickets (tenant_id, customer_id);

-- Existing tickets get their customers: one per tenant and e-mail, then one per tenant and phone for the rest.
CREATE TABLE backfill_v5 AS
  SELECT tenant_id, 'email' AS kind, customer_email AS value, lower(hex(randomblob(16))) AS id,
         max(customer_name) AS name, min(created_at) AS first_at, max(updated_at) AS last_at
  FROM tickets WHERE customer_email IS NOT NULL GROUP BY tenant_id, customer_email;
INSERT INTO backfill_v5 (tenant_id, kind, value, id, name, first_at, last_at)
  SELECT tenant_id, 'phone', customer_phone, lower(hex(randomblob(16))), max(customer_name), min(created_at),
         max(updated_at)
  FROM tickets WHERE customer_email IS NULL AND customer_phone IS NOT NULL GROUP BY tenant_id, customer_phone;
INSERT INTO customers (id, tenant_id, name, last_interaction_at, created_at, updated_at)
  SELECT id, tenant_id, name, last_at, first_at, last_at FROM backfill_v5;
INSERT INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
  SELECT tenant_id, id, kind, '', value, first_at FROM backfill_v5;
UPDATE tickets SET customer_id = (SELECT b.id FROM backfill_v5 b WHERE b.tenant_id = tickets.tenant_id
    AND ((b.kind = 'email' AND b.value = tickets.customer_email)
      OR (b.kind = 'phone' AND tickets.customer_email IS NULL AND b.value = tickets.customer_phone)))
  WHERE customer_id IS NULL AND (customer_email IS NOT NULL OR customer_phone IS NOT NULL);
DROP TABLE backfill_v5;
