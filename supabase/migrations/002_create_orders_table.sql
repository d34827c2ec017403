-- One row per paid checkout. The unique Stripe ids are what make a second order for
-- the same payment impossible, whatever the webhook deliveries do.
create table public.orders (
    id                          uuid primary key default gen_random_uuid(),
    order_number                text not null,
    customer_id                 uuid not null references public.customers (id) on delete restrict,
    status                      text not null default 'paid',
    payment_status              text not null default 'paid',
    stripe_checkout_session_id  text,
    stripe_payment_intent_id    text,
    upload_session_id           uuid not null,
    image_count                 integer not null,
    total_amount                integer not null,
    currency                    text not null,
    paid_at                     timestamptz,
    completed_at                timestamptz,
    metadata                    jsonb not null default '{}'::jsonb,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now(),
    deleted_at                  timestamptz,
    constraint orders_order_number_key unique (order_number),
    constraint orders_stripe_checkout_session_id_key unique (stripe_checkout_session_id),
    constraint orders_stripe_payment_intent_id_key unique (stripe_payment_intent_id),
    constraint orders_order_number_format check (order_number ~ '^[0-9]{8}-[0-9]{6}$'),
    constraint orders_status_check check (status in (
        'paid', 'processing', 'completed', 'partially_completed', 'failed', 'refunded', 'disputed'
    )),
    constraint orders_payment_status_check check (payment_status in ('paid', 'refunded', 'disputed')),
    constraint orders_image_count_check check (image_count between 1 and 1000),
    constraint orders_total_amount_check check (total_amount >= 0),
    constraint orders_currency_check check (currency ~ '^[a-z]{3}$'),
    constraint orders_completed_at_check check (
        completed_at is null or status in ('completed', 'partially_completed', 'failed', 'refunded', 'disputed')
    ),
    constraint orders_metadata_object check (jsonb_typeof(metadata) = 'object')
);

comment on table public.orders is 'Paid orders. Never hard-deleted once they have history: soft delete via deleted_at.';
