-- name: checkout_for_status
select c.id, c.status, c.photo_count from public.checkouts c
where c.stripe_checkout_session_id = %(ref)s;

-- name: order_for_status_by_id
-- Two queries, not one `id::text = ref or ...`: a cast column matches no index, and every
-- poll would read every order.
select o.id, o.order_number, o.status, o.image_count, o.created_at, o.completed_at, o.photos_deleted_at
from public.orders o
where o.id = %(order_id)s and o.deleted_at is null;

-- name: order_for_status_by_checkout
select o.id, o.order_number, o.status, o.image_count, o.created_at, o.completed_at, o.photos_deleted_at
from public.orders o
where o.stripe_checkout_session_id = %(ref)s and o.deleted_at is null;

-- name: photo_statuses
select s.id, s.filename, j.status as job_status, r.id as restored_image_id,
       s.preview_path as original_preview_path, s.preview_width as original_preview_width,
       s.preview_height as original_preview_height,
       r.preview_path, r.preview_width, r.preview_height
from public.images s
left join public.restoration_jobs j on j.image_id = s.id
left join public.images r on r.source_image_id = s.id and r.type = 'restored'
where s.order_id = %(order_id)s and s.type = 'original'
order by s.upload_position;
