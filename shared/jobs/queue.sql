-- The one queue mechanism, as the run loop and the operator call it: every statement is
-- a call of a function of migration 027, which takes the queue's table (`table`, a
-- regclass; or `rows`, a NULL of its row type where a claim returns the table's rows) and
-- the queue's claimed and done states, as shared/jobs/queues.py defines them.

-- name: queue_claim
select * from public.queue_claim(%(rows)s, %(claimed)s, %(worker)s, %(batch_size)s::integer, %(lease_seconds)s::integer);

-- name: queue_complete_and_claim
select * from public.queue_complete_and_claim(
    %(rows)s, %(claimed)s, %(done)s, %(ids)s::uuid[], %(worker)s, %(batch_size)s::integer, %(lease_seconds)s::integer
);

-- name: queue_heartbeat
select public.queue_heartbeat(
    %(table)s::regclass, %(claimed)s, %(ids)s::uuid[], %(worker)s, %(lease_seconds)s::integer
) as extended;

-- name: queue_complete
select public.queue_complete(%(table)s::regclass, %(claimed)s, %(done)s, %(ids)s::uuid[], %(worker)s) as completed;

-- name: queue_fail
select * from public.queue_fail(
    %(table)s::regclass, %(claimed)s, %(id)s::uuid, %(worker)s, %(terminal)s, %(error)s, %(retry_in_seconds)s
);

-- name: queue_release
select public.queue_release(%(table)s::regclass, %(claimed)s, %(ids)s::uuid[], %(worker)s) as released;

-- name: queue_sweep
select * from public.queue_sweep(%(table)s::regclass, %(claimed)s);

-- name: queue_retry
select * from public.queue_retry(%(table)s::regclass, %(id)s::uuid);

-- name: queue_cancel
select * from public.queue_cancel(%(table)s::regclass, %(id)s::uuid);

-- name: queue_list
select * from public.queue_list(%(queues)s::text[], %(tables)s::regclass[], %(status)s::text, %(limit)s::integer);
