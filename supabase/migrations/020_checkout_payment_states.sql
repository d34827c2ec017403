-- Every paid Checkout Session ends with exactly one order or exactly one refund, and no
-- cart is ever stuck. The checkout row records the states that takes:
--   creating          we asked the provider for a payment page (no customer has its URL yet)
--   open              the page exists and may be paid
--   awaiting_payment  Stripe holds the session complete but unpaid (a bank debit clearing):
--                     the photos stay frozen until the payment succeeds or fails
--   completed         paid, and its order made
--   expired / failed  the provider confirmed the page ended unpaid, or the create was refused
--                     or never answered (then no customer ever saw a URL)
--   refunding         paid but impossible to fulfil; the refund is being made
--   refunded          refunded in full (or nothing to refund: a zero total)

alter table public.checkouts drop constraint checkouts_status_check;
alter table public.checkouts add constraint checkouts_status_check check (
    status in ('creating', 'open', 'awaiting_payment', 'completed', 'expired', 'failed', 'refunding', 'refunded')
);

-- A create that the provider refused, or that never answered, fails with no session id:
-- the old rule (only `creating` may lack one) made that write fail and froze the cart.
alter table public.checkouts drop constraint checkouts_session_known;
alter table public.checkouts add constraint checkouts_session_known check (
    stripe_checkout_session_id is not null or status in ('creating', 'failed')
);

alter table public.checkouts
    -- Set when the create got no answer (timeout, connection lost): the provider may have
    -- made the session, so the next attempt for the same photos reuses the idempotency key
    -- and gets that session back rather than a second one.
    add column create_unanswered_at timestamptz,
    add column stripe_payment_intent_id text,
    add column refund_reason text,
    -- Counts refund requests the provider answered with a failure: Stripe saves the first
    -- answer under an idempotency key (a 500 included) for 24 h, so a retry after a definite
    -- answer needs the next key; a retry after no answer keeps the same one.
    add column refund_attempts integer not null default 0,
    add column stripe_refund_id text,
    add column refunded_at timestamptz,
    add constraint checkouts_refund_reason_check check (
        (status in ('refunding', 'refunded')) = (refund_reason is not null)
    ),
    add constraint checkouts_refunded_at_check check ((status = 'refunded') = (refunded_at is not null)),
    add constraint checkouts_refund_attempts_check check (refund_attempts between 0 and 1000);

-- Photos stay frozen while Stripe may still take money for them: a session complete but
-- unpaid is as live as an open one.
drop index public.checkouts_one_live_per_session;
create unique index checkouts_one_live_per_session
    on public.checkouts (upload_session_id) where status in ('creating', 'open', 'awaiting_payment');

-- Cleanup settles checkouts whose provider event never came: it reads them in expiry order.
create index checkouts_unsettled_idx
    on public.checkouts (expires_at) where status in ('creating', 'open', 'awaiting_payment', 'refunding');

create index checkouts_payment_intent_idx
    on public.checkouts (stripe_payment_intent_id) where stripe_payment_intent_id is not null;

alter table public.email_queue drop constraint email_queue_template_check;
alter table public.email_queue add constraint email_queue_template_check check (template in (
    'order_confirmation', 'restoration_complete', 'restoration_partial', 'restoration_failed',
    'download_links_resent', 'payment_failed', 'payment_refunded'
));

comment on column public.checkouts.refund_reason is
    'Why a paid checkout could not become an order: payment_mismatch, checkout_ended, already_paid, photos_missing.';
