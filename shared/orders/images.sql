-- name: image_for_restoration
select i.*, f.storage_path as temp_path, o.status as order_status
from public.images i
join public.orders o on o.id = i.order_id
left join public.file_uploads f on f.id = i.file_upload_id
where i.id = %(image_id)s;

-- name: restored_image_of
select * from public.images where source_image_id = %(image_id)s and type = 'restored';

-- name: record_restored_image
-- A retried job that already stored its result finds the row here instead of a second one.
insert into public.images (
    order_id, type, source_image_id, storage_path, filename, content_type, size_bytes,
    width, height, sha256, stored_at
) values (
    %(order_id)s, 'restored', %(source_image_id)s, %(storage_path)s, %(filename)s, 'image/jpeg',
    %(size_bytes)s, %(width)s, %(height)s, %(sha256)s, now()
)
on conflict (source_image_id) where type = 'restored' do update set storage_path = excluded.storage_path
returning *;

-- name: link_restored_image
update public.restoration_jobs
set restored_image_id = %(restored_image_id)s, provider = %(provider)s
where id = %(job_id)s;

-- name: mark_order_processing
update public.orders set status = 'processing'
where id = %(order_id)s and status = 'paid';

-- name: restored_images_of_order
select r.*, s.filename as source_filename
from public.images r
join public.images s on s.id = r.source_image_id
where r.order_id = %(order_id)s and r.type = 'restored'
order by r.upload_position;

-- name: queue_order_job
insert into public.order_jobs (order_id, kind, dedupe_key, max_attempts)
values (%(order_id)s, %(kind)s, %(dedupe_key)s, %(max_attempts)s)
on conflict (dedupe_key) where status in ('pending', 'running') do nothing
returning *;

-- name: orders_ready_to_finish
-- Orders whose photos are all final (succeeded, dead or cancelled) and that are not
-- finished yet: the catch-all that also covers jobs that died in a sweep.
select o.id from public.orders o
where o.status in ('paid', 'processing')
  and exists (select 1 from public.restoration_jobs j where j.order_id = o.id)
  and not exists (
      select 1 from public.restoration_jobs j
      where j.order_id = o.id and j.status in ('pending', 'running')
  )
limit 500;

-- name: restoration_tally
-- The customer's own filenames of the photos that failed, for the email that says so.
select count(*) filter (where j.status in ('pending', 'running'))::int as unfinished,
       count(*) filter (where j.status = 'succeeded')::int as succeeded,
       count(*) filter (where j.status in ('dead', 'cancelled'))::int as failed,
       coalesce(array_agg(i.filename order by i.upload_position) filter (where j.status in ('dead', 'cancelled')),
                '{}') as failed_filenames
from public.restoration_jobs j
join public.images i on i.id = j.image_id
where j.order_id = %(order_id)s;

-- name: lock_order
select * from public.orders where id = %(order_id)s for update;

-- name: lock_order_for_a_restored_photo
-- Shared, so the photos of one order are recorded side by side; a refund or a dispute (an
-- update of the row) waits for it, or it waits for one under way and reads its status.
select status from public.orders where id = %(order_id)s for share;

-- name: finish_order
update public.orders
set status = %(status)s, completed_at = coalesce(completed_at, now()), zip_parts = %(zip_parts)s
where id = %(order_id)s and status in ('paid', 'processing')
returning *;

-- name: customer_email_of_order
select c.email from public.orders o join public.customers c on c.id = o.customer_id
where o.id = %(order_id)s;

-- name: mark_images_stored
update public.images set stored_at = coalesce(stored_at, now()) where id = any(%(image_ids)s::uuid[]);

-- name: record_preview
-- The preview's path is derived from the photo's, so a retried job that stored it again
-- records the same values; one already recorded is kept as it is.
update public.images
set preview_path = %(preview_path)s, preview_width = %(preview_width)s,
    preview_height = %(preview_height)s, preview_size_bytes = %(preview_size_bytes)s
where id = %(image_id)s and preview_path is null;
