-- name: orders_past_photo_retention
-- Finished orders whose photos are still kept past retention, oldest first (the partial
-- index orders_photos_kept_idx holds exactly these, in this order). Finished is completed,
-- partly completed or failed, or stopped by a refund or a dispute (reverse_order_payment
-- stamps completed_at too; migration 039 stamped the orders stopped before it did).
select o.id, o.order_number from public.orders o
where o.photos_deleted_at is null and o.completed_at is not null
  and o.completed_at < now() - make_interval(days => %(retention_days)s)
order by o.completed_at
limit %(batch_size)s;

-- name: order_photo_paths
-- Every object the order's rows name: its originals and restored photos, and the temporary
-- objects of photos that were never moved into the order's folder.
select i.storage_path from public.images i where i.order_id = %(order_id)s
union
select f.storage_path from public.file_uploads f where f.order_id = %(order_id)s;

-- name: mark_order_photos_deleted
-- Once its objects are gone: the order says when, its image rows are soft-deleted (the
-- order's history keeps them), and its links stop working with a reason the page can give.
-- Only an order not already marked, so a second cleanup racing this one changes nothing.
with marked as (
    update public.orders set photos_deleted_at = now()
    where id = %(order_id)s and photos_deleted_at is null
    returning id
), images as (
    update public.images set deleted_at = coalesce(deleted_at, now())
    where order_id in (select id from marked)
    returning id
), links as (
    update public.download_links set revoked_at = now(), revoked_reason = 'photos deleted after retention'
    where order_id in (select id from marked) and revoked_at is null
    returning id
)
select (select count(*) from marked)::int as orders, (select count(*) from images)::int as images;
