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
