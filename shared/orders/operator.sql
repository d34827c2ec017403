-- What `restoreclick orders` reads and does. The operator's view of one order gathers
-- every table that mentions it; none of these run on a customer's request.

-- name: operator_list_orders
select o.order_number, o.status, o.payment_status, o.image_count, o.total_amount, o.currency,
       o.created_at, o.completed_at, o.photos_deleted_at, c.email
from public.orders o
join public.customers c on c.id = o.customer_id
where (%(status)s::text is null or o.status = %(status)s)
  and (%(since_days)s::int is null or o.created_at > now() - make_interval(days => %(since_days)s::int))
  and o.deleted_at is null
order by o.created_at desc
limit %(limit)s;

-- name: operator_order
select o.*, c.email, c.name as customer_name
from public.orders o
join public.customers c on c.id = o.customer_id
where o.order_number = %(order_number)s and o.deleted_at is null;

-- name: operator_order_checkout
select id, status, payments_provider, stripe_checkout_session_id, stripe_payment_intent_id, amount_total,
       currency, refund_reason, stripe_refund_id, refunded_at, completed_at
from public.checkouts where stripe_checkout_session_id = %(stripe_checkout_session_id)s;

-- name: operator_order_images
select id, type, filename, content_type, size_bytes, width, height, storage_path, stored_at, deleted_at
from public.images where order_id = %(order_id)s
order by type, filename, id;

-- name: operator_order_jobs
select 'restoration' as queue, id, status, attempt_number, max_attempts, last_error, updated_at
from public.restoration_jobs where order_id = %(order_id)s
union all
select 'order_work', id, status, attempt_number, max_attempts, last_error, updated_at
from public.order_jobs where order_id = %(order_id)s
order by updated_at;

-- name: operator_order_emails
-- The refund email is queued for the checkout (an automatic refund may have no order), so
-- it is found by the dedupe key payments/refunds.py gives it.
select id, template, status, to_email, attempt_number, provider_message_id, sent_at, last_error, created_at
from public.email_queue
where order_id = %(order_id)s
   or dedupe_key = 'payment_refunded:' || %(checkout_id)s::text
order by created_at;

-- name: operator_order_links
-- Only the hash of a link's token is stored; the operator sees its state, never a link.
select id, image_id, expires_at, max_downloads, download_count, last_used_at, revoked_at, revoked_reason, created_at
from public.download_links where order_id = %(order_id)s
order by created_at;

-- name: operator_order_audit
-- The order's trail and that of its checkout (refunds) and links (downloads).
select a.entity_type, a.action, a.actor, a.old_values, a.new_values, a.created_at
from public.audit_logs a
where a.entity_id = %(order_id)s
   or (a.entity_type = 'checkout' and a.entity_id = %(checkout_id)s)
   or (a.entity_type = 'download_link' and a.entity_id in (
        select id from public.download_links where order_id = %(order_id)s))
order by a.created_at, a.id;

-- name: begin_operator_refund
-- An operator refunds a fulfilled order: its completed checkout takes the refund path an
-- unfulfillable one takes (refunding, then refunded, through payments/refunds.py). Only a
-- completed checkout moves, so two operators at once begin it once.
update public.checkouts
set status = 'refunding', refund_reason = %(reason)s,
    stripe_payment_intent_id = coalesce(stripe_payment_intent_id, %(payment_intent)s)
where id = %(checkout_id)s and status = 'completed'
returning *;
