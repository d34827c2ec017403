-- An upload session groups the photos a customer uploads before paying. While a checkout
-- is open the session is frozen (its photos were priced); an expired checkout opens it
-- again, a paid one closes it for good.
create table public.upload_sessions (
    id          uuid primary key default gen_random_uuid(),
    status      text not null default 'open',
    expires_at  timestamptz not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint upload_sessions_status_check check (status in ('open', 'checkout', 'paid', 'expired')),
    constraint upload_sessions_expiry_check check (expires_at > created_at)
);

create trigger upload_sessions_set_updated_at before update on public.upload_sessions
    for each row execute function public.set_updated_at();

alter table public.file_uploads
    add constraint file_uploads_upload_session_id_fkey
    foreign key (upload_session_id) references public.upload_sessions (id) on delete restrict;

-- What a customer was asked to pay for: exactly these photos, this amount. The webhook
-- fulfils from this record, never from whatever the session holds by then.
create table public.checkouts (
    id                          uuid primary key default gen_random_uuid(),
    upload_session_id           uuid not null references public.upload_sessions (id) on delete restrict,
    stripe_checkout_session_id  text,
    payments_provider           text not null,
    status                      text not null default 'creating',
    email                       text not null,
    name                        text,
    file_upload_ids             uuid[] not null,
    photo_count                 integer not null,
    unit_amount                 integer not null,
    amount_total                integer not null,
    currency                    text not null,
    idempotency_key             text not null,
    checkout_url                text,
    expires_at                  timestamptz not null,
    completed_at                timestamptz,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now(),
    constraint checkouts_stripe_checkout_session_id_key unique (stripe_checkout_session_id),
    constraint checkouts_idempotency_key_key unique (idempotency_key),
    constraint checkouts_payments_provider_check check (payments_provider in ('stripe', 'local')),
    constraint checkouts_status_check check (
        status in ('creating', 'open', 'completed', 'expired', 'failed')
    ),
    constraint checkouts_session_known check (status = 'creating' or stripe_checkout_session_id is not null),
    constraint checkouts_email_format check (
        length(email) <= 254 and email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
    ),
    constraint checkouts_name_length check (name is null or length(name) between 1 and 200),
    constraint checkouts_photo_count_check check (
        photo_count between 1 and 1000 and cardinality(file_upload_ids) = photo_count
    ),
    constraint checkouts_unit_amount_check check (unit_amount >= 0),
    constraint checkouts_amount_total_check check (amount_total = unit_amount * photo_count),
    constraint checkouts_currency_check check (currency ~ '^[a-z]{3}$')
);

-- At most one live checkout per upload session, and at most one that was paid.
create unique index checkouts_one_live_per_session
    on public.checkouts (upload_session_id) where status in ('creating', 'open');
create unique index checkouts_one_paid_per_session
    on public.checkouts (upload_session_id) where status = 'completed';

create trigger checkouts_set_updated_at before update on public.checkouts
    for each row execute function public.set_updated_at();

create index upload_sessions_expires_at_idx on public.upload_sessions (expires_at) where status = 'open';

comment on table public.upload_sessions is 'Photos uploaded together before one checkout.';
comment on table public.checkouts is 'Stripe Checkout Sessions we created: which photos, for how much.';
