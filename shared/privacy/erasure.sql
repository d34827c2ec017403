-- Erasure finds a person by their address wherever the shop keeps it: the customer row
-- (and so their orders), checkouts they started (paid, refunded or abandoned), emails
-- queued to them, and resend requests naming them. Addresses compare case-insensitively,
-- as customers_email_key does.

-- name: lock_erasure_customers
-- Held until the erasure commits: fulfilment's get-or-create of the same address waits on
-- it, so no order can join the person halfway through.
select id from public.customers where lower(email) = lower(%(email)s) for update;

-- name: erasure_scope
-- Every id the erasure touches, in one row.
with people as (
    select id from public.customers where lower(email) = lower(%(email)s)
), their_orders as (
    select o.id, o.stripe_checkout_session_id, o.stripe_payment_intent_id, o.upload_session_id
    from public.orders o where o.customer_id in (select id from people)
), their_checkouts as (
    select c.id, c.upload_session_id, c.stripe_checkout_session_id, c.stripe_payment_intent_id
    from public.checkouts c
    where lower(c.email) = lower(%(email)s)
       or c.stripe_checkout_session_id in (select stripe_checkout_session_id from their_orders)
)
select
    array(select id from people) as customer_ids,
    array(select id from their_orders) as order_ids,
    array(select id from their_checkouts) as checkout_ids,
    array(select upload_session_id from their_checkouts
          union select upload_session_id from their_orders) as upload_session_ids,
    array(select stripe_checkout_session_id from their_checkouts where stripe_checkout_session_id is not null
          union select stripe_checkout_session_id from their_orders where stripe_checkout_session_id is not null)
        as stripe_ids,
    array(select stripe_payment_intent_id from their_checkouts where stripe_payment_intent_id is not null
          union select stripe_payment_intent_id from their_orders where stripe_payment_intent_id is not null)
        as payment_intents;

-- name: erasure_blockers
-- Work still under way for the person: erasing now would pull photos from under a running
-- restoration, or a payment Stripe may still settle. The operator erases once it ends.
select 'order ' || o.order_number || ' is ' || o.status as reason
from public.orders o
where o.id = any(%(order_ids)s::uuid[]) and o.status in ('paid', 'processing')
union all
select 'checkout ' || coalesce(c.stripe_checkout_session_id, c.id::text) || ' is ' || c.status
from public.checkouts c
where c.id = any(%(checkout_ids)s::uuid[]) and c.status in ('creating', 'open', 'awaiting_payment', 'refunding');

-- name: erasure_object_paths
-- Every object the person's rows name: originals and restored photos of their orders, and
-- the photos of the carts they checked out (kept in the temporary area until claimed).
select i.storage_path from public.images i where i.order_id = any(%(order_ids)s::uuid[])
union
select f.storage_path from public.file_uploads f
where f.order_id = any(%(order_ids)s::uuid[]) or f.upload_session_id = any(%(upload_session_ids)s::uuid[]);

-- name: erase_customers
-- The address, name and phone go; the row stays (orders refer to it) under an address that
-- names no one. `.invalid` is reserved (RFC 2606): nothing can ever be sent there.
update public.customers
set email = 'erased-' || id || '@erased.invalid', name = null, phone = null,
    metadata = '{}'::jsonb, deleted_at = coalesce(deleted_at, now())
where id = any(%(customer_ids)s::uuid[]);

-- name: erase_checkouts
-- Amounts, currency, dates and the Stripe ids stay, for accounting.
update public.checkouts
set email = 'erased-' || id || '@erased.invalid', name = null
where id = any(%(checkout_ids)s::uuid[]);

-- name: erase_image_names
-- The filenames the customer gave become neutral ones; the rows stay in the order's
-- history, soft-deleted with their objects gone.
update public.images
set filename = 'photo-' || left(id::text, 8) || case content_type
        when 'image/png' then '.png' when 'image/webp' then '.webp' when 'image/heic' then '.heic' else '.jpg' end,
    metadata = '{}'::jsonb, deleted_at = coalesce(deleted_at, now())
where order_id = any(%(order_ids)s::uuid[]);

-- name: erase_upload_names
update public.file_uploads
set filename = 'photo-' || left(id::text, 8),
    status = case when status in ('pending', 'uploaded') then 'deleted' else status end
where order_id = any(%(order_ids)s::uuid[]) or upload_session_id = any(%(upload_session_ids)s::uuid[]);

-- name: close_erased_upload_sessions
update public.upload_sessions set status = 'expired'
where id = any(%(upload_session_ids)s::uuid[]) and status = 'open';

-- name: mark_erased_orders
update public.orders set photos_deleted_at = coalesce(photos_deleted_at, now())
where id = any(%(order_ids)s::uuid[]);

-- name: delete_erased_download_links
delete from public.download_links where order_id = any(%(order_ids)s::uuid[]);

-- name: erase_queued_emails
-- Queued emails lose their address and payload (which names photos); one not sent yet is
-- cancelled, as there is no one left to send it to. One being sent right now keeps its
-- state: the worker holding it finishes or fails it.
update public.email_queue
set to_email = 'erased-' || id || '@erased.invalid', payload = '{}'::jsonb,
    last_error = null, error_history = '[]'::jsonb,
    status = case when status = 'pending' then 'cancelled' else status end
where order_id = any(%(order_ids)s::uuid[]) or lower(to_email) = lower(%(email)s);

-- name: erase_job_errors
-- A job's errors may quote a photo's name.
with r as (
    update public.restoration_jobs set last_error = null, error_history = '[]'::jsonb
    where order_id = any(%(order_ids)s::uuid[])
    returning id
)
update public.order_jobs set last_error = null, error_history = '[]'::jsonb
where order_id = any(%(order_ids)s::uuid[]);

-- name: delete_erased_resend_requests
delete from public.resend_requests where lower(email) = lower(%(email)s);

-- name: delete_erased_throttle_counts
-- The resend throttle counts by a hash of the address (see downloads/resend.py).
delete from public.request_throttle where key = 'resend:email:' || encode(sha256(convert_to(lower(%(email)s), 'UTF8')), 'hex');

-- name: erase_stripe_event_payloads
-- Stripe's events carry the customer's details. Once processed, an event is kept only to
-- recognise a redelivery, which needs its id and type alone; what it said about the
-- session stays on the order and checkout rows.
update public.stripe_events
set payload = jsonb_build_object(
        'id', id, 'type', type, 'erased', true,
        'data', jsonb_build_object('object', jsonb_build_object(
            'id', payload -> 'data' -> 'object' ->> 'id', 'object', payload -> 'data' -> 'object' ->> 'object')))
where position(lower(%(email)s) in lower(payload::text)) > 0
   or payload -> 'data' -> 'object' ->> 'id' = any(%(stripe_ids)s::text[])
   or payload -> 'data' -> 'object' ->> 'payment_intent' = any(%(payment_intents)s::text[]);

-- name: erase_error_log_subjects
-- An error about one of their orders, checkouts or jobs may quote a photo's name.
update public.error_log
set message = 'erased with the customer''s data'
where subject_id = any(%(subject_ids)s::text[]);

-- name: erasure_job_ids
select id::text as id from public.restoration_jobs where order_id = any(%(order_ids)s::uuid[])
union all select id::text from public.order_jobs where order_id = any(%(order_ids)s::uuid[])
union all select id::text from public.email_queue where order_id = any(%(order_ids)s::uuid[]);
