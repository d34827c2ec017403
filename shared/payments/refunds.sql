-- name: begin_refund
-- A paid checkout that cannot become an order is marked for refund, once: the reason
-- written first is the one kept. A live checkout gives its cart back to the customer.
with refunding as (
    update public.checkouts
    set status = 'refunding', refund_reason = %(reason)s,
        stripe_payment_intent_id = coalesce(%(payment_intent)s, stripe_payment_intent_id)
    where id = %(checkout_id)s and status in ('creating', 'open', 'awaiting_payment', 'expired', 'failed')
    returning *
), reopened as (
    -- Unless another checkout of the cart is live (the statement sees the rows as they
    -- were before it, so this one is left out by id).
    update public.upload_sessions s set status = 'open'
    from refunding r
    where s.id = r.upload_session_id and s.status = 'checkout'
      and not exists (
          select 1 from public.checkouts c
          where c.upload_session_id = s.id and c.id <> r.id
            and c.status in ('creating', 'open', 'awaiting_payment')
      )
    returning s.id
)
select * from refunding;

-- name: count_refund_failure
update public.checkouts set refund_attempts = refund_attempts + 1
where id = %(checkout_id)s and status = 'refunding';

-- name: finish_refund
update public.checkouts
set status = 'refunded', stripe_refund_id = %(refund_id)s, refunded_at = now()
where id = %(checkout_id)s and status = 'refunding'
returning *;

-- name: order_by_payment_intent
select * from public.orders where stripe_payment_intent_id = %(payment_intent)s;

-- name: reverse_order_payment
-- A full refund or a dispute. Only moves forward: a disputed order is not later "refunded"
-- back over, and a repeated event changes nothing. It ends the order: one stopped before its
-- photos were all restored is finished now (completed_at), so retention deletes its photos
-- PHOTO_RETENTION_DAYS from here, as it does a completed order's.
update public.orders
set status = %(status)s, payment_status = %(status)s, completed_at = coalesce(completed_at, now())
where id = %(order_id)s
  and payment_status = 'paid'
returning *;

-- name: cancel_pending_restoration_jobs
update public.restoration_jobs
set status = 'cancelled', locked_until = null, locked_by = null, finished_at = now()
where order_id = %(order_id)s and status in ('pending', 'running');

-- name: cancel_pending_emails
update public.email_queue
set status = 'cancelled', locked_until = null, locked_by = null
where order_id = %(order_id)s and status in ('pending', 'sending');

-- name: revoke_download_links
update public.download_links
set revoked_at = now(), revoked_reason = %(reason)s
where order_id = %(order_id)s and revoked_at is null;
