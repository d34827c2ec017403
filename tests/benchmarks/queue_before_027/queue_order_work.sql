-- The order_work queue's statements as they were before migration 027 (branch layout,
-- shared/jobs/queue_order_work.sql), kept only as the queue-drain benchmark's baseline.


-- name: order_work_claim
-- FOR UPDATE SKIP LOCKED: concurrent workers take disjoint batches without waiting.
-- Served by the partial index of pending rows, however many finished rows there are.
-- Ordered by run_after alone, as that index is, so a claim reads about one batch of its
-- entries however many jobs are due; a tie-breaker the index lacks (id) made every claim
-- read and sort every due row, and draining a backlog quadratic.
with next as (
    select id from public.order_jobs
    where status = 'pending' and run_after <= now()
    order by run_after
    limit %(batch_size)s
    for update skip locked
)
update public.order_jobs q
set status = 'running',
    attempt_number = q.attempt_number + 1,
    locked_until = now() + make_interval(secs => %(lease_seconds)s),
    locked_by = %(worker)s,
    started_at = now()
from next
where q.id = next.id
returning q.*;

-- name: order_work_complete_and_claim
-- The run loop's steady state in one statement, one round trip: complete the batch just
-- handled (as order_work_complete) and claim the next (as order_work_claim). The two
-- touch different rows, running and pending ones. Keep in step with both.
with completed as (
    update public.order_jobs
    set status = 'succeeded', locked_until = null, locked_by = null, last_error = null, finished_at = now()
    where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s
), next as (
    select id from public.order_jobs
    where status = 'pending' and run_after <= now()
    order by run_after
    limit %(batch_size)s
    for update skip locked
)
update public.order_jobs q
set status = 'running',
    attempt_number = q.attempt_number + 1,
    locked_until = now() + make_interval(secs => %(lease_seconds)s),
    locked_by = %(worker)s,
    started_at = now()
from next
where q.id = next.id
returning q.*;

-- name: order_work_heartbeat
update public.order_jobs
set locked_until = now() + make_interval(secs => %(lease_seconds)s)
where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s;

-- name: order_work_complete
-- Finished jobs are acknowledged together, one statement per batch.
update public.order_jobs
set status = 'succeeded', locked_until = null, locked_by = null, last_error = null, finished_at = now()
where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s;

-- name: order_work_fail
-- A retryable error waits out its backoff; a terminal one, or the last attempt, is dead.
update public.order_jobs
set status = case when %(terminal)s or attempt_number >= max_attempts then 'dead' else 'pending' end,
    run_after = now() + make_interval(secs => %(retry_in_seconds)s),
    locked_until = null,
    locked_by = null,
    last_error = left(%(error)s, 2000),
    error_history = error_history || jsonb_build_array(jsonb_build_object(
        'attempt', attempt_number, 'at', now(), 'worker', %(worker)s, 'error', left(%(error)s, 2000)
    )),
    finished_at = case when %(terminal)s or attempt_number >= max_attempts then now() end
where id = %(id)s and status = 'running' and locked_by = %(worker)s
returning id, status, attempt_number;

-- name: order_work_release
-- Claimed but not started before the run's time ran out: back to the queue, the attempt
-- not counted.
update public.order_jobs
set status = 'pending', attempt_number = attempt_number - 1, locked_until = null, locked_by = null
where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s;

-- name: order_work_sweep
-- Leases that expired belong to workers that died (SIGKILL, Lambda timeout): their jobs
-- go back to pending at once, the attempt counted, or to dead after the last one.
update public.order_jobs
set status = case when attempt_number >= max_attempts then 'dead' else 'pending' end,
    run_after = now(),
    locked_until = null,
    locked_by = null,
    last_error = 'lease expired: the worker stopped mid-job',
    error_history = error_history || jsonb_build_array(jsonb_build_object(
        'attempt', attempt_number, 'at', now(), 'worker', locked_by, 'error', 'lease expired'
    )),
    finished_at = case when attempt_number >= max_attempts then now() end
where status = 'running' and locked_until < now()
returning id, status;
