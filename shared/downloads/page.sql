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
