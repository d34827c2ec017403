-- Nothing to seed: every row in this schema comes from a real customer journey
-- (uploads, checkouts, webhooks). `restoreclick dev` walks that journey for demo data.
select 1;
