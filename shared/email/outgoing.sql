-- name: queue_email
-- The dedupe key's unique index decides: a message asked for twice is queued once.
insert into public.email_queue (order_id, to_email, template, payload, dedupe_key, max_attempts)
values (%(order_id)s, %(to_email)s, %(template)s, %(payload)s, %(dedupe_key)s, %(max_attempts)s)
on conflict (dedupe_key) do nothing
returning id;
