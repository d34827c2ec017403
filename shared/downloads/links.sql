-- name: create_download_link
insert into public.download_links (order_id, image_id, token_hash, expires_at, max_downloads)
values (%(order_id)s, %(image_id)s, %(token_hash)s,
        now() + make_interval(days => %(ttl_days)s), %(max_downloads)s)
returning *;

-- name: download_link_by_hash
select l.*, o.order_number, o.status as order_status, o.zip_parts, o.photos_deleted_at
from public.download_links l
join public.orders o on o.id = l.order_id
where l.token_hash = %(token_hash)s;

-- name: revoke_download_link
-- A link made for an email that was never handed to the provider: nobody holds its token.
update public.download_links
set revoked_at = coalesce(revoked_at, now()), revoked_reason = coalesce(revoked_reason, %(reason)s)
where id = %(id)s;
