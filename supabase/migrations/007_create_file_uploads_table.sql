-- Photos a customer uploaded before paying. They live in the temporary area of storage
-- until an order claims them; unclaimed ones expire and are cleaned up.
create table public.file_uploads (
    id                 uuid primary key default gen_random_uuid(),
    upload_session_id  uuid not null,
    storage_path       text not null,
    filename           text not null,
    content_type       text not null,
    size_bytes         bigint not null,
    sha256             text,
    width              integer,
    height             integer,
    status             text not null default 'uploaded',
    order_id           uuid references public.orders (id) on delete restrict,
    expires_at         timestamptz not null,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint file_uploads_storage_path_key unique (storage_path),
    constraint file_uploads_status_check check (
        status in ('pending', 'uploaded', 'claimed', 'deleted', 'expired')
    ),
    -- Claimed means claimed by an order, and an order's photos stay claimed.
    constraint file_uploads_claim_check check ((status = 'claimed') = (order_id is not null)),
    -- Only a direct upload that has not completed yet may lack its verified facts.
    constraint file_uploads_verified_check check (
        status in ('pending', 'deleted', 'expired')
        or (sha256 is not null and width is not null and height is not null)
    ),
    constraint file_uploads_content_type_check check (
        content_type in ('image/jpeg', 'image/png', 'image/webp', 'image/heic')
    ),
    constraint file_uploads_size_check check (size_bytes > 0),
    constraint file_uploads_sha256_check check (sha256 is null or sha256 ~ '^[0-9a-f]{64}$'),
    constraint file_uploads_dimensions_check check (
        (width is null or width > 0) and (height is null or height > 0)
    ),
    -- The customer's filename is data only, never a path: no separators, no control characters.
    constraint file_uploads_filename_check check (
        length(filename) between 1 and 255 and filename !~ '[/\\[:cntrl:]]' and filename not in ('.', '..')
    )
);

alter table public.images
    add constraint images_file_upload_id_fkey
    foreign key (file_upload_id) references public.file_uploads (id) on delete restrict;

comment on table public.file_uploads is 'Uploaded photos awaiting checkout; claimed by an order once paid.';
