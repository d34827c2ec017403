-- Each photo of an order (original and restored) gets a small web preview, made once by
-- the restoration worker and stored beside the photo: the download page and the status
-- endpoint show it through short-lived signed URLs, so a customer sees the result
-- without spending a download. Null until the preview is stored; a retried job that
-- finds it set makes no second one. Its size is recorded so that the storage the shop
-- uses (storage_bytes_used, which the monitor alarms on) counts previews too.
alter table public.images
    add column preview_path text,
    add column preview_width integer,
    add column preview_height integer,
    add column preview_size_bytes bigint,
    add constraint images_preview_path_key unique (preview_path),
    add constraint images_preview_complete check (
        (preview_path is null) = (preview_size_bytes is null)
        and (preview_path is null) = (preview_width is null)
        and (preview_path is null) = (preview_height is null)
    ),
    add constraint images_preview_size_check check (
        (preview_size_bytes is null or preview_size_bytes > 0)
        and (preview_width is null or preview_width > 0)
        and (preview_height is null or preview_height > 0)
    );

-- Storage in use, as the database knows it: every kept photo, its preview, and every live upload.
create or replace function public.storage_bytes_used()
returns bigint
language sql
stable
set search_path = ''
as $$
    select coalesce((select sum(size_bytes + coalesce(preview_size_bytes, 0))
                     from public.images where deleted_at is null), 0)
         + coalesce((select sum(size_bytes) from public.file_uploads
                     where status in ('pending', 'uploaded')), 0)
$$;
