-- The restoration queue over public.restoration_jobs: claim, heartbeat, complete, fail, release,
-- sweep. Every transition is one statement that checks the row is still ours
-- (status 'running' and locked_by = the worker), so a job whose lease was swept and
-- re-claimed elsewhere can never be completed twice.

-- name: restoration_claim
-- FOR UPDATE SKIP LOCKED: concurrent workers take disjoint batches without waiting.
-- Served by the partial index of pending rows, however many finished rows there are.
-- Ordered by run_after alone, as that index is, so a claim reads about one batch of its
-- entries however many jobs are due; a tie-breaker the index lacks (id) made every claim
-- read and sort every due row, and draining a backlog quadratic.
with next as (
    select id from public.restoration_jobs
    where status = 'pending' and run_after <= now()
    order by run_after
    limit %(batch_size)s
    for update skip locked
)
update public.restoration_jobs q
set status = 'running',
    attempt_number = q.attempt_number + 1,
    locked_until = now() + make_interval(secs => %(lease_seconds)s),
    locked_by = %(worker)s,
    started_at = now()
from next
where q.id = next.id
returning q.*;

-- name: restoration_complete_and_claim
-- The run loop's steady state in one statement, one round trip: complete the batch just
-- handled (as restoration_complete) and claim the next (as restoration_claim). The two
-- touch different rows, running and pending ones. Keep in step with both.
with completed as (
    update public.restoration_jobs
    set status = 'succeeded', locked_until = null, locked_by = null, last_error = null, finished_at = now()
    where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s
), next as (
    select id from public.restoration_jobs
    where status = 'pending' and run_after <= now()
    order by run_after
    limit %(batch_size)s
    for update skip locked
)
update public.restoration_jobs q
set status = 'running',
    attempt_number = q.attempt_number + 1,
    locked_until = now() + make_interval(secs => %(lease_seconds)s),
    locked_by = %(worker)s,
    started_at = now()
from next
where q.id = next.id
returning q.*;

-- name: restoration_heartbeat
update public.restoration_jobs
set locked_until = now() + make_interval(secs => %(lease_seconds)s)
where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s;

-- name: restoration_complete
-- Finished jobs are acknowledged together, one statement per batch.
update public.restoration_jobs
set status = 'succeeded', locked_until = null, locked_by = null, last_error = null, finished_at = now()
where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s;

-- name: restoration_fail
-- A retryable error waits out its backoff; a terminal one, or the last attempt, is dead.
update public.restoration_jobs
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

-- name: restoration_release
-- Claimed but not started before the run's time ran out: back to the queue, the attempt
-- not counted.
update public.restoration_jobs
set status = 'pending', attempt_number = attempt_number - 1, locked_until = null, locked_by = null
where id = any(%(ids)s::uuid[]) and status = 'running' and locked_by = %(worker)s;

-- name: restoration_sweep
-- Leases that expired belong to workers that died (SIGKILL, Lambda timeout): their jobs
-- go back to pending at once, the attempt counted, or to dead after the last one.
update public.restoration_jobs
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

-- name: restoration_hand_off
-- A remote provider now works on the job: the lease passes from the worker to the
-- prediction (`replicate:<prediction id>`), for as long as a prediction may take. Its
-- callback, or the poll fallback, completes or fails the job as that holder; if neither
-- comes, the lease expires and the sweep tries again.
update public.restoration_jobs
set provider = %(provider)s,
    provider_prediction_id = %(prediction_id)s,
    locked_by = %(holder)s,
    locked_until = now() + make_interval(secs => %(lease_seconds)s)
where id = %(id)s and status = 'running' and locked_by = %(worker)s
returning id;
