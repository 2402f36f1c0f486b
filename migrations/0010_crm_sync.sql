-- Schema v10: ticket sync with a CRM (a connection's settings.sync_tickets). Each Edgedesk ticket created since the
-- sync was switched on is mirrored once as a CRM ticket/case (the link holds its external id, so nothing is created
-- twice), and status changes flow both ways on each run of the sync cron; `synced_status` is the unified status both
-- sides agreed on last time, so a run can tell which side changed (Edgedesk wins when both did).

CREATE TABLE crm_ticket_links (
  connection_id      TEXT NOT NULL REFERENCES crm_connections(id) ON DELETE CASCADE,
  tenant_id          TEXT NOT NULL,
  ticket_id          TEXT NOT NULL,
  external_id        TEXT,                           -- NULL while the CRM ticket is being created
  synced_status      TEXT,                           -- unified status (new|open|pending|solved|closed)
  edgedesk_updated_at TEXT,                          -- tickets.updated_at seen at the last sync
  attempts           INTEGER NOT NULL DEFAULT 0,     -- failed create attempts (given up after 5)
  last_error         TEXT,
  checked_at_ms      INTEGER NOT NULL DEFAULT 0,     -- last time the CRM side was read
  created_at         TEXT NOT NULL,
  PRIMARY KEY (connection_id, ticket_id)
);
CREATE UNIQUE INDEX crm_ticket_links_external ON crm_ticket_links (connection_id, external_id);
CREATE INDEX crm_ticket_links_checked ON crm_ticket_links (connection_id, checked_at_ms);
