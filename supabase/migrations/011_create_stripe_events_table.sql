-- Every Stripe webhook event we accepted, keyed by Stripe's event id. Inserting with
-- ON CONFLICT DO NOTHING is how a redelivered event is recognised; processed_at says
-- whether its effects are already committed.
create table public.stripe_events (
    id            text primary key,
    type          text not null,
    livemode      boolean not null default false,
    api_version   text,
    payload       jsonb not null,
    attempts      integer not null default 1,
    last_error    text,
    received_at   timestamptz not null default now(),
    processed_at  timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint stripe_events_id_format check (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    constraint stripe_events_type_format check (type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    constraint stripe_events_attempts_check check (attempts >= 1),
    constraint stripe_events_payload_object check (jsonb_typeof(payload) = 'object')
);

-- Cleanup drops processed events after their retention, oldest first.
create index stripe_events_processed_at_idx
    on public.stripe_events (processed_at) where processed_at is not null;

create trigger stripe_events_set_updated_at before update on public.stripe_events
    for each row execute function public.set_updated_at();

comment on table public.stripe_events is 'Stripe webhook events received, for idempotent processing.';
