-- Download links mailed to customers. Only the SHA-256 of the token is stored, so a
-- leaked database does not leak working links. The check on download_count makes the
-- use limit hold in the database even if two requests race.
create table public.download_links (
    id              uuid primary key default gen_random_uuid(),
    order_id        uuid not null references public.orders (id) on delete restrict,
    image_id        uuid references public.images (id) on delete restrict,
    token_hash      text not null,
    expires_at      timestamptz not null,
    max_downloads   integer not null default 10,
    download_count  integer not null default 0,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    revoked_reason  text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint download_links_token_hash_key unique (token_hash),
    constraint download_links_token_hash_check check (token_hash ~ '^[0-9a-f]{64}$'),
    constraint download_links_max_downloads_check check (max_downloads between 1 and 1000),
    constraint download_links_download_count_check check (
        download_count >= 0 and download_count <= max_downloads
    ),
    constraint download_links_revoked_check check ((revoked_at is null) = (revoked_reason is null)),
    constraint download_links_expiry_check check (expires_at > created_at)
);

comment on table public.download_links is 'Expiring, use-limited download links; tokens stored as SHA-256 only.';
