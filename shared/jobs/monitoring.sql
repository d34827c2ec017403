-- name: queue_stats
select * from public.queue_stats();

-- name: storage_bytes_used
select public.storage_bytes_used() as bytes;

-- name: refunds_waiting
-- Paid checkouts we could not fulfil whose refund is still not made an hour on (Stripe
-- refused it, or could not be reached since): money an operator must look at.
select count(*)::int as n from public.checkouts
where status = 'refunding' and updated_at < now() - interval '1 hour';
