
-- name: create_order
-- ON CONFLICT DO NOTHING on the unique Stripe ids: if another delivery created the order
-- first, nothing comes back and the caller rolls back (returning the order number it took).
insert into public.orders (
    order_number, customer_id, status, payment_status, stripe_checkout_session_id,
    stripe_payment_intent_id, upload_session_id, image_count, total_amount, currency,
    paid_at, metadata
) values (
    %(order_number)s, %(customer_id)s, %(status)s, %(payment_status)s,
    %(stripe_checkout_session_id)s, %(stripe_payment_intent_id)s, %(upload_session_id)s,
    %(image_count)s, %(total_amount)s, %(currency)s, now(), %(metadata)s
)
on conflict do nothing
returning *;

-- name: claim_photos_for_order
-- Exactly the priced photos become the order's: claimed, so cleanup never removes them.
-- (Each comes back with only its temporary path, from which the caller says where it is
-- kept: the webhook's answer should not grow with rows it decodes and throws away.)
update public.file_uploads
set status = 'claimed', order_id = %(order_id)s
where id = any(%(file_upload_ids)s::uuid[]) and status in ('uploaded', 'pending')
returning id, storage_path;

-- name: create_original_images
insert into public.images (
    order_id, type, file_upload_id, storage_path, filename, content_type, size_bytes,
    width, height, sha256
)
-- Where each is kept comes from the caller (storage/layout.originals_path_for): the
-- bucket's layout is written in one place, and it is not here.
select f.order_id, 'original', f.id, kept.storage_path,
       f.filename, f.content_type, f.size_bytes, f.width, f.height, f.sha256
from unnest(%(file_upload_ids)s::uuid[], %(storage_paths)s::text[]) as kept(file_upload_id, storage_path)
join public.file_uploads f on f.id = kept.file_upload_id
where f.order_id = %(order_id)s::uuid
order by f.upload_position;

-- name: queue_restoration_jobs
-- One job per original image; the partial unique index keeps a second one out.
insert into public.restoration_jobs (order_id, image_id, max_attempts)
select i.order_id, i.id, %(max_attempts)s
from public.images i
where i.order_id = %(order_id)s and i.type = 'original'
on conflict do nothing;

-- name: complete_checkout
update public.checkouts
set status = 'completed', completed_at = coalesce(completed_at, now()),
    stripe_payment_intent_id = coalesce(%(payment_intent)s, stripe_payment_intent_id)
where id = %(checkout_id)s
returning *;

-- name: paid_checkout_of_session
-- Another payment already made these photos an order.
select * from public.checkouts
where upload_session_id = %(upload_session_id)s and status = 'completed' and id <> %(checkout_id)s;

-- name: lock_payment
-- Serialises everything that concerns one payment (its fulfilment, its refund, its
-- dispute) for the rest of the transaction: a refund racing the order's creation either
-- sees the order, or is seen by it.
select pg_advisory_xact_lock(hashtext('restoreclick.payment:' || %(payment_intent)s));
