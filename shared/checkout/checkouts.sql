-- name: live_checkout_for_session
-- The one checkout that may still become a payment (checkouts_one_live_per_session).
select * from public.checkouts
where upload_session_id = %(upload_session_id)s and status in ('creating', 'open', 'awaiting_payment');

-- name: lock_checkout
-- Callers lock the upload session first, then the checkout: one order everywhere, so a
-- checkout request, a cancel and a webhook for the same cart queue up instead of deadlocking.
select * from public.checkouts where id = %(checkout_id)s for update;

-- name: unanswered_checkout_to_resume
-- A create that got no answer may have made a session at the provider, which would hand
-- it back under the same idempotency key. The retry reuses that checkout (and its key)
-- when it prices the same photos for the same buyer and amount, while the provider still
-- keeps the key (24 h) and the page's expiry is still one the provider accepts (>= 30 min).
select * from public.checkouts
where upload_session_id = %(upload_session_id)s
  and status = 'failed' and create_unanswered_at is not null and stripe_checkout_session_id is null
  and lower(email) = lower(%(email)s)
  and amount_total = %(amount_total)s and currency = %(currency)s
  and (select array_agg(x order by x) from unnest(file_upload_ids) x)
      = (select array_agg(x order by x) from unnest(%(file_upload_ids)s::uuid[]) x)
  and created_at > now() - interval '23 hours'
  and expires_at > now() + interval '31 minutes'
order by created_at desc
limit 1;

-- name: resume_unanswered_checkout
update public.checkouts set status = 'creating', create_unanswered_at = null
where id = %(checkout_id)s and status = 'failed' and create_unanswered_at is not null
returning *;

-- name: insert_checkout
insert into public.checkouts (
    upload_session_id, payments_provider, status, email, name, file_upload_ids, photo_count,
    unit_amount, amount_total, currency, idempotency_key, expires_at
) values (
    %(upload_session_id)s, %(payments_provider)s, 'creating', %(email)s, %(name)s,
    %(file_upload_ids)s::uuid[], %(photo_count)s, %(unit_amount)s, %(amount_total)s,
    %(currency)s, %(idempotency_key)s, %(expires_at)s
)
returning *;

-- name: set_upload_session_status
update public.upload_sessions set status = %(status)s
where id = %(upload_session_id)s
returning *;

-- name: open_checkout
-- The provider created its session: remember its id and where to send the customer.
update public.checkouts
set status = 'open',
    stripe_checkout_session_id = %(stripe_checkout_session_id)s,
    checkout_url = %(checkout_url)s,
    expires_at = %(expires_at)s
where id = %(checkout_id)s and status in ('creating', 'open')
returning *;

-- name: abandon_checkout
-- The provider refused, failed or never answered, or a crash left the checkout `creating`
-- past its time: no customer ever had its payment page, so nothing can be paid through it,
-- and the session is the customer's to change again at once. `unanswered` keeps its key
-- for a retry of the same photos (unanswered_checkout_to_resume).
with failed as (
    update public.checkouts
    set status = 'failed', create_unanswered_at = case when %(unanswered)s then now() end
    where id = %(checkout_id)s and status = 'creating'
    returning upload_session_id
)
update public.upload_sessions s set status = 'open'
from failed
where s.id = failed.upload_session_id and s.status = 'checkout'
returning s.*;

-- name: checkout_by_stripe_session
select * from public.checkouts where stripe_checkout_session_id = %(stripe_checkout_session_id)s;

-- name: expire_checkout
-- The provider confirmed the payment page ended unpaid (its expire call succeeded, the
-- session reads `expired`, or its expiry event came): free the session for a new checkout.
-- Never on our clock alone: a page past its time may still be complete at the provider.
-- Only an open checkout expires; a paid or pending one stays as it is. Of concurrent
-- callers, exactly one gets the reopened session back.
with expired as (
    update public.checkouts set status = 'expired'
    where id = %(checkout_id)s and status = 'open'
    returning upload_session_id
)
update public.upload_sessions s set status = 'open'
from expired
where s.id = expired.upload_session_id and s.status = 'checkout'
returning s.*;

-- name: count_checkouts_for_session
select count(*)::int as n from public.checkouts where upload_session_id = %(upload_session_id)s;

-- name: await_payment
-- Stripe holds the session complete but unpaid (a bank debit clearing): the photos stay
-- frozen until checkout.session.async_payment_succeeded or _failed.
update public.checkouts
set status = 'awaiting_payment', stripe_payment_intent_id = coalesce(%(payment_intent)s, stripe_payment_intent_id)
where id = %(checkout_id)s and status in ('creating', 'open')
returning *;

-- name: checkouts_to_settle
-- Checkouts whose provider event should have come by now and did not (cleanup asks the
-- provider about each): open or creating past their time, refunds not yet made, and bank
-- debits pending past the window Stripe's delayed methods settle in.
select * from public.checkouts
where (status in ('creating', 'open') and expires_at < now() - make_interval(mins => %(grace_minutes)s))
   or (status = 'refunding' and updated_at < now() - make_interval(mins => %(grace_minutes)s))
   or (status = 'awaiting_payment' and expires_at < now() - make_interval(days => %(payment_window_days)s))
order by expires_at
limit %(batch_size)s;

-- name: checkout_holding_photo
-- A checkout that was paid for this photo, or paid by a method still clearing: while one
-- exists the photo must not go, whatever the session's own status says. (An open page
-- freezes the session itself: checkout_in_progress.)
select id, status from public.checkouts
where upload_session_id = %(upload_session_id)s
  and %(file_id)s::uuid = any(file_upload_ids)
  and status in ('awaiting_payment', 'completed')
limit 1;
