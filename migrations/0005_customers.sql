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
-- (A phone number standing in for a name is not a name: nullif.)
CREATE TABLE backfill_v5 AS
  SELECT tenant_id, 'email' AS kind, lower(trim(customer_email)) AS value, lower(hex(randomblob(16))) AS id,
         max(nullif(customer_name, customer_phone)) AS name, min(created_at) AS first_at, max(updated_at) AS last_at
  FROM tickets WHERE customer_email LIKE '%_@_%._%' GROUP BY tenant_id, lower(trim(customer_email));
INSERT INTO backfill_v5 (tenant_id, kind, value, id, name, first_at, last_at)
  SELECT tenant_id, 'phone', customer_phone, lower(hex(randomblob(16))), max(nullif(customer_name, customer_phone)),
         min(created_at), max(updated_at)
  FROM tickets WHERE (customer_email IS NULL OR customer_email NOT LIKE '%_@_%._%') AND customer_phone IS NOT NULL
  GROUP BY tenant_id, customer_phone;
INSERT INTO customers (id, tenant_id, name, last_interaction_at, created_at, updated_at)
  SELECT id, tenant_id, name, last_at, first_at, last_at FROM backfill_v5;
INSERT INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
  SELECT tenant_id, id, kind, '', value, first_at FROM backfill_v5;
UPDATE tickets SET customer_id = (SELECT b.id FROM backfill_v5 b WHERE b.tenant_id = tickets.tenant_id
    AND ((b.kind = 'email' AND b.value = lower(trim(tickets.customer_email)))
      OR (b.kind = 'phone' AND b.value = tickets.customer_phone)) ORDER BY b.kind LIMIT 1)
  WHERE customer_id IS NULL AND (customer_email IS NOT NULL OR customer_phone IS NOT NULL);
-- Phones of e-mail-keyed tickets (a lead that left both) become identities of the same customer.
INSERT OR IGNORE INTO customer_identities (tenant_id, customer_id, kind, scope, value, created_at)
  SELECT tenant_id, customer_id, 'phone', '', customer_phone, min(created_at) FROM tickets
  WHERE customer_id IS NOT NULL AND customer_phone IS NOT NULL GROUP BY tenant_id, customer_phone;
DROP TABLE backfill_v5;
