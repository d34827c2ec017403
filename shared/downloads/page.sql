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
order by r.upload_position;

-- name: download_page_photos
-- Every photo of the order as the page shows it: the original (with its preview), its
-- restored version when there is one, and how its restoration ended. The newest job of
-- each photo tells (a photo may have been tried again); finished jobs are deleted after
-- their retention, so a photo without a restored version on a finished order failed.
select s.id as original_id, s.filename as original_filename, s.preview_path as original_preview_path,
       s.preview_width as original_preview_width, s.preview_height as original_preview_height,
       r.id, r.filename, r.preview_path, r.preview_width, r.preview_height,
       j.status as job_status
from public.images s
left join public.images r on r.source_image_id = s.id and r.type = 'restored' and r.deleted_at is null
left join lateral (
    select status from public.restoration_jobs
    where image_id = s.id order by created_at desc limit 1
) j on true
where s.order_id = %(order_id)s and s.type = 'original' and s.deleted_at is null
order by s.upload_position;
