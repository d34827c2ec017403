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

-- name: lock_order_for_resend
select o.id, o.order_number, o.status
from public.orders o
join public.customers c on c.id = o.customer_id
where o.order_number = %(order_number)s and lower(c.email) = lower(%(email)s)
  and o.deleted_at is null
for update of o;

-- name: recent_resends
select count(*)::int as n from public.email_queue
where order_id = %(order_id)s and template = 'download_links_resent'
  and created_at > now() - interval '1 hour';
