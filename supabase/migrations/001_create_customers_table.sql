-- Customers are identified by their email address, compared case-insensitively:
-- the unique index on lower(email) is what makes "get or create by email" safe
-- under concurrent webhook deliveries.
create table public.customers (
    id          uuid primary key default gen_random_uuid(),
    email       text not null,
    name        text,
    phone       text,
    metadata    jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    deleted_at  timestamptz,
    constraint customers_email_format
        check (length(email) <= 254 and email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    constraint customers_name_length check (name is null or length(name) between 1 and 200),
    constraint customers_phone_format check (phone is null or phone ~ '^\+?[0-9][0-9 ()-]{4,31}$'),
    constraint customers_metadata_object check (jsonb_typeof(metadata) = 'object')
);

create unique index customers_email_key on public.customers (lower(email));

comment on table public.customers is 'People who paid for a restoration; one row per email address.';
