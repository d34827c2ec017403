-- Photos are personal data and kept no longer than needed: PHOTO_RETENTION_DAYS after an
-- order finished, cleanup deletes its originals, restored photos and ZIPs from storage and
-- soft-deletes their image rows. The order row stays for accounting; this column says
-- when its photos went, so the step is done once per order and the download page can say
-- why there is nothing left to download.
alter table public.orders add column photos_deleted_at timestamptz;

-- Cleanup reads finished orders whose photos are still kept, oldest first.
create index orders_photos_kept_idx on public.orders (completed_at)
    where photos_deleted_at is null and completed_at is not null;
