-- Schema v11: a failed CRM create is tried again only after a pause (5 min × failed attempts so far): the vendor
-- may have created the ticket although its answer was lost, and its search index needs time before the next run
-- looks for it (Freshdesk: minutes; HubSpot: seconds).

ALTER TABLE crm_ticket_links ADD COLUMN retry_at_ms INTEGER NOT NULL DEFAULT 0; -- ms since the epoch
