-- Ownership of the poll lease (a poll frees only its own lease), claims on draft jobs (two runs never deliver
-- the same draft), and the Reply-To address of e-mails (replies and drafts go there when it is set).
ALTER TABLE mailboxes ADD COLUMN lease_owner TEXT;
ALTER TABLE drafts ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;  -- Unix ms
ALTER TABLE emails ADD COLUMN reply_to TEXT;
