-- Restoration jobs handed to a remote provider (see restoration_hand_off, in hand_off.sql).

-- name: restoration_job_awaiting_prediction
-- Only the job the prediction still holds: a late callback of an earlier, swept attempt
-- finds nothing, and neither does a second delivery of the same callback.
select * from public.restoration_jobs
where provider = %(provider)s and provider_prediction_id = %(prediction_id)s
  and status = 'running' and locked_by = %(holder)s;

-- name: restoration_jobs_awaiting_callback
-- The poll fallback: predictions handed off a while ago whose callback has not come.
select * from public.restoration_jobs
where status = 'running' and provider = %(provider)s
  and locked_by = provider || ':' || provider_prediction_id
  and started_at < now() - make_interval(secs => %(after_seconds)s)
order by started_at
limit %(limit)s;
