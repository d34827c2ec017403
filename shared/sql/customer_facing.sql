-- name: checkout_for_status
select c.id, c.status, c.photo_count from public.checkouts c
where c.stripe_checkout_session_id = %(ref)s;

-- name: order_for_status_by_id
-- Two queries, not one `id::text = ref or ...`: a cast column matches no index, and every
-- poll would read every order.
select o.id, o.order_number, o.status, o.image_count, o.created_at, o.completed_at
from public.orders o
where o.id = %(order_id)s and o.deleted_at is null;

-- name: order_for_status_by_checkout
select o.id, o.order_number, o.status, o.image_count, o.created_at, o.completed_at
from public.orders o
where o.stripe_checkout_session_id = %(ref)s and o.deleted_at is null;

-- name: photo_statuses
select s.id, s.filename, j.status as job_status, r.id as restored_image_id
from public.images s
left join public.restoration_jobs j on j.image_id = s.id
left join public.images r on r.source_image_id = s.id and r.type = 'restored'
where s.order_id = %(order_id)s and s.type = 'original'
order by s.created_at, s.id;

-- name: use_download_link
-- One use, atomically: concurrent requests cannot pass the limit (and the table's CHECK
-- would refuse it anyway).
update public.download_links
set download_count = download_count + 1, last_used_at = now()
where token_hash = %(token_hash)s
  and revoked_at is null
  and expires_at > now()
  and download_count < max_downloads
returning *;

-- name: downloadable_images
select r.id, r.storage_path, r.filename, r.size_bytes
from public.images r
where r.order_id = %(order_id)s and r.type = 'restored' and r.deleted_at is null
order by r.created_at, r.id;

-- name: record_resend_request
-- The whole of the customer's request path: one insert, whatever it names.
insert into public.resend_requests (email, order_number) values (%(email)s, %(order_number)s);

-- name: match_resend_requests
-- The email worker's first step: take a page of requests (each is gone once taken), and
-- queue a resend email for each that names a finished order by its customer's email, at
-- most %(per_hour)s an hour per order. Run under lock_resend_matching, so two workers
-- cannot both count an order's resends below the limit and both queue one.
with taken as (
    delete from public.resend_requests r
    where r.id in (select id from public.resend_requests order by id limit %(batch_size)s for update skip locked)
    returning r.email, r.order_number, r.created_at
), matched as (
    select distinct on (o.id) o.id as order_id, o.order_number, o.zip_parts, t.email
    from taken t
    join public.orders o on o.order_number = t.order_number and o.deleted_at is null
    join public.customers c on c.id = o.customer_id and lower(c.email) = lower(t.email)
    where o.status in ('completed', 'partially_completed')
    order by o.id, t.created_at
)
insert into public.email_queue (order_id, to_email, template, payload, dedupe_key, max_attempts)
-- zip_parts: the link gets its uses for each of the order's ZIPs, as the first one did.
select m.order_id, m.email, 'download_links_resent',
       jsonb_build_object('order_number', m.order_number, 'zip_parts', m.zip_parts),
       'download_links_resent:' || m.order_id || ':' || gen_random_uuid(), %(max_attempts)s
from matched m
where (
    select count(*) from public.email_queue q
    where q.order_id = m.order_id and q.template = 'download_links_resent'
      and q.created_at > now() - interval '1 hour'
) < %(per_hour)s
returning id;

-- name: lock_resend_matching
select pg_advisory_xact_lock(hashtext('restoreclick.resend_matching'));

-- name: resend_requests_waiting
select 1 as waiting from public.resend_requests limit 1;
