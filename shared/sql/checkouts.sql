-- name: live_checkout_for_session
select * from public.checkouts
where upload_session_id = %(upload_session_id)s and status in ('creating', 'open');

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
-- The provider refused or could not be reached: the session is the customer's to change again.
with failed as (
    update public.checkouts set status = 'failed'
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
-- The payment page expired (Stripe said so, its time is up, or the customer cancelled it):
-- free the session for a new checkout. Only a live checkout expires; a paid one stays paid.
-- Of concurrent callers, exactly one gets the reopened session back.
with expired as (
    update public.checkouts set status = 'expired'
    where id = %(checkout_id)s and status in ('creating', 'open')
    returning upload_session_id
)
update public.upload_sessions s set status = 'open'
from expired
where s.id = expired.upload_session_id and s.status = 'checkout'
returning s.*;

-- name: count_checkouts_for_session
select count(*)::int as n from public.checkouts where upload_session_id = %(upload_session_id)s;
