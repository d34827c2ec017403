-- Operator commands over the three queues (`restoreclick jobs`).

-- name: list_jobs
select 'restoration' as queue, id, order_id, status, attempt_number, max_attempts, run_after, last_error, updated_at
from public.restoration_jobs where (%(status)s::text is null or status = %(status)s)
union all
select 'email', id, order_id, status, attempt_number, max_attempts, run_after, last_error, updated_at
from public.email_queue where (%(status)s::text is null or status = %(status)s)
union all
select 'order_work', id, order_id, status, attempt_number, max_attempts, run_after, last_error, updated_at
from public.order_jobs where (%(status)s::text is null or status = %(status)s)
order by updated_at desc
limit %(limit)s;

-- name: retry_restoration_job
update public.restoration_jobs
set status = 'pending', attempt_number = 0, run_after = now(), finished_at = null
where id = %(id)s and status in ('dead', 'cancelled') returning id;

-- name: retry_email_job
update public.email_queue
set status = 'pending', attempt_number = 0, run_after = now(), send_started_at = null
where id = %(id)s and status in ('dead', 'cancelled') returning id;

-- name: retry_order_work_job
update public.order_jobs
set status = 'pending', attempt_number = 0, run_after = now(), finished_at = null
where id = %(id)s and status in ('dead', 'cancelled') returning id;

-- name: cancel_restoration_job
update public.restoration_jobs set status = 'cancelled', finished_at = now()
where id = %(id)s and status in ('pending', 'dead') returning id;

-- name: cancel_email_job
update public.email_queue set status = 'cancelled'
where id = %(id)s and status in ('pending', 'dead') returning id;

-- name: cancel_order_work_job
update public.order_jobs set status = 'cancelled', finished_at = now()
where id = %(id)s and status in ('pending', 'dead') returning id;
