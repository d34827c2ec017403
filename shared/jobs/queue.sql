-- The one queue mechanism, as the run loop and the operator call it: every statement is
-- a call of a function of migration 027, which takes the queue's table (`table`, a
-- regclass) and the queue's claimed and done states, as shared/jobs/queues.py defines
-- them; the claims are statements 027 writes for the queue, asked for once a run.

-- name: queue_claim_statements
-- The texts of the run loop's two claims, as migration 027 writes them for this queue: a run
-- asks once and sends them itself, one round trip a batch with nothing in between (through
-- queue_claim and queue_complete_and_claim, PL/pgSQL would format and plan them on every call).
select public.queue_claim_statement(%(table)s::regclass, %(claimed)s, %(done)s, false) as claim,
       public.queue_claim_statement(%(table)s::regclass, %(claimed)s, %(done)s, true) as complete_and_claim;

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
