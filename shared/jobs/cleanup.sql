-- Cleanup works in pages (LIMIT) so one Lambda run stays bounded; a run that stops early
-- resumes where it stopped, because each page removes what it handled. Nothing a paid
-- order needs is touched: claimed uploads, links of live orders, unfinished jobs.

-- name: expire_abandoned_uploads
-- Temporary photos nobody paid for, past retention: their rows become 'expired' (the
-- caller deletes their objects). The skip-locked claim lets two cleanups run at once.
-- Taken in expiry order, which file_uploads_expirable_idx holds: a page reads the index
-- from its oldest entry and stops at the batch size, so a run costs what it removes.
-- (Ordered by created_at, which no index holds, every page sorted all the uploads still
-- waiting: quadratic time for a large backlog.)
-- Photos priced by a checkout that may still be paid are kept, however old: a live
-- checkout ends only on the provider's word (the `checkouts` run settles stale ones with
-- the provider), and a bank debit (awaiting_payment) can clear days later; the order needs them.
with old as (
    select f.id from public.file_uploads f
    where f.status in ('pending', 'uploaded') and f.order_id is null
      and f.created_at < now() - make_interval(days => %(retention_days)s)
      and not exists (
          select 1 from public.checkouts c
          where c.upload_session_id = f.upload_session_id
            and c.status in ('creating', 'open', 'awaiting_payment')
            and f.id = any(c.file_upload_ids)
      )
    order by f.expires_at
    limit %(batch_size)s
    for update of f skip locked
)
update public.file_uploads f set status = 'expired'
from old where f.id = old.id
returning f.id, f.storage_path;

-- name: expire_abandoned_sessions
update public.upload_sessions s set status = 'expired'
where s.status = 'open' and s.expires_at < now() - make_interval(days => %(retention_days)s)
  and not exists (select 1 from public.file_uploads f where f.upload_session_id = s.id and f.status in ('pending', 'uploaded', 'claimed'));

-- name: claimed_temp_paths
-- Temporary objects an order still needs (not yet moved): cleanup must never delete them.
select f.storage_path from public.file_uploads f
join public.images i on i.file_upload_id = f.id
where f.status = 'claimed' and i.stored_at is null;

-- name: delete_dead_download_links
delete from public.download_links
where id in (
    select id from public.download_links
    where (expires_at < now() - make_interval(days => %(grace_days)s))
       or (revoked_at is not null and revoked_at < now() - make_interval(days => %(grace_days)s))
    limit %(batch_size)s
)
returning id;

-- name: delete_old_stripe_events
delete from public.stripe_events
where id in (
    select id from public.stripe_events
    where processed_at < now() - make_interval(days => %(days)s)
    limit %(batch_size)s
)
returning id;

-- name: delete_finished_restoration_jobs
delete from public.restoration_jobs
where id in (
    select j.id from public.restoration_jobs j
    join public.orders o on o.id = j.order_id
    where j.status in ('succeeded', 'cancelled') and j.updated_at < now() - make_interval(days => %(days)s)
      and o.status not in ('paid', 'processing')
    limit %(batch_size)s
)
returning id;

-- name: delete_finished_emails
delete from public.email_queue
where id in (
    select id from public.email_queue
    where status in ('sent', 'cancelled') and updated_at < now() - make_interval(days => %(days)s)
    limit %(batch_size)s
)
returning id;

-- name: delete_finished_order_jobs
delete from public.order_jobs
where id in (
    select id from public.order_jobs
    where status in ('succeeded', 'cancelled') and updated_at < now() - make_interval(days => %(days)s)
    limit %(batch_size)s
)
returning id;

-- name: delete_resolved_errors
-- Resolved error-log entries are history once their retention has passed; unresolved
-- ones stay however old, until someone resolves them.
delete from public.error_log
where id in (
    select id from public.error_log
    where resolved and resolved_at < now() - make_interval(days => %(days)s)
    order by resolved_at
    limit %(batch_size)s
)
returning id;

-- name: count_abandoned_uploads
select count(*)::int as n from public.file_uploads
where status in ('pending', 'uploaded') and order_id is null
  and created_at < now() - make_interval(days => %(retention_days)s);

-- name: live_temp_paths
-- Temporary objects whose rows are still live (a session within its retention).
select storage_path from public.file_uploads where status in ('pending', 'uploaded');

-- name: pending_upload_paths
-- Direct uploads not completed yet: their incoming objects may still be checked.
select storage_path from public.file_uploads where status = 'pending';
