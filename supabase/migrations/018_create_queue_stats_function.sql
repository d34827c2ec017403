-- One row per queue for monitoring: depth, age of the oldest pending job, running, dead,
-- jobs running longer than 5 minutes, and over the last hour processing time p50/p95,
-- successes and failed attempts (from each job's error history).
create function public.queue_stats()
returns table (
    queue text,
    pending bigint,
    oldest_pending_seconds double precision,
    running bigint,
    dead bigint,
    stuck bigint,
    p50_seconds double precision,
    p95_seconds double precision,
    succeeded_last_hour bigint,
    failed_attempts_last_hour bigint
)
language sql
stable
set search_path = ''
as $$
    with jobs as (
        select 'restoration' as queue, status, run_after, created_at, started_at as began,
               finished_at as ended, status = 'running' as busy, error_history
        from public.restoration_jobs
        union all
        select 'email', status, run_after, created_at, send_started_at, sent_at,
               status = 'sending', error_history
        from public.email_queue
        union all
        select 'order_work', status, run_after, created_at, started_at, finished_at,
               status = 'running', error_history
        from public.order_jobs
    ),
    queues(queue) as (values ('restoration'), ('email'), ('order_work'))
    select
        q.queue,
        count(*) filter (where j.status = 'pending'),
        coalesce(extract(epoch from now() - min(j.created_at) filter (where j.status = 'pending')), 0)::double precision,
        count(*) filter (where j.busy),
        count(*) filter (where j.status = 'dead'),
        count(*) filter (where j.busy and j.began < now() - interval '5 minutes'),
        percentile_cont(0.5) within group (order by extract(epoch from j.ended - j.began))
            filter (where j.ended > now() - interval '1 hour' and j.began is not null),
        percentile_cont(0.95) within group (order by extract(epoch from j.ended - j.began))
            filter (where j.ended > now() - interval '1 hour' and j.began is not null),
        count(*) filter (where j.status in ('succeeded', 'sent') and j.ended > now() - interval '1 hour'),
        coalesce(sum((
            select count(*) from jsonb_array_elements(j.error_history) e
            where (e ->> 'at')::timestamptz > now() - interval '1 hour'
        )), 0)::bigint
    from queues q
    left join jobs j on j.queue = q.queue
    group by q.queue
    order by q.queue;
$$;

revoke all on function public.queue_stats() from anon, authenticated, public;
grant execute on function public.queue_stats() to service_role;

-- Storage in use, as the database knows it: every kept photo and every live upload.
create function public.storage_bytes_used()
returns bigint
language sql
stable
set search_path = ''
as $$
    select coalesce((select sum(size_bytes) from public.images where deleted_at is null), 0)
         + coalesce((select sum(size_bytes) from public.file_uploads
                     where status in ('pending', 'uploaded')), 0)
$$;

revoke all on function public.storage_bytes_used() from anon, authenticated, public;
grant execute on function public.storage_bytes_used() to service_role;
