-- Originals (the customer's photos, moved into the order's folder) and their restored
-- versions. A restored image points at its source; the partial unique index below is
-- what keeps a retried restoration job from ever creating a second restored image.
create table public.images (
    id               uuid primary key default gen_random_uuid(),
    order_id         uuid not null references public.orders (id) on delete restrict,
    type             text not null,
    source_image_id  uuid references public.images (id) on delete restrict,
    file_upload_id   uuid,
    storage_path     text not null,
    filename         text not null,
    content_type     text not null,
    size_bytes       bigint not null,
    width            integer,
    height           integer,
    sha256           text,
    -- Set once the object is known to be at storage_path. Originals are moved out of the
    -- temporary area after the order commits; restoration waits for this.
    stored_at        timestamptz,
    metadata         jsonb not null default '{}'::jsonb,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    deleted_at       timestamptz,
    constraint images_storage_path_key unique (storage_path),
    constraint images_file_upload_id_key unique (file_upload_id),
    constraint images_type_check check (type in ('original', 'restored')),
    constraint images_source_matches_type check ((type = 'restored') = (source_image_id is not null)),
    constraint images_original_has_upload check (type = 'restored' or file_upload_id is not null),
    constraint images_content_type_check check (
        content_type in ('image/jpeg', 'image/png', 'image/webp', 'image/heic')
    ),
    constraint images_size_check check (size_bytes > 0),
    constraint images_dimensions_check check (
        (width is null or width > 0) and (height is null or height > 0)
    ),
    constraint images_sha256_check check (sha256 is null or sha256 ~ '^[0-9a-f]{64}$'),
    constraint images_filename_check check (length(filename) between 1 and 255),
    constraint images_metadata_object check (jsonb_typeof(metadata) = 'object')
);

create unique index images_one_restored_per_source
    on public.images (source_image_id) where type = 'restored';

comment on table public.images is 'Original and restored photos of an order.';
