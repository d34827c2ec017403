-- How many ZIPs an order's restored photos were written as. Storage refuses objects over
-- its size limit (Supabase: the bucket's file_size_limit, 25 MB for `photos`), and an
-- order may hold 50 photos of 25 MB, so a large order is split into several ZIPs; 0 when
-- none could be written (the photos are then downloaded one by one). Orders finished
-- before this column existed have their one ZIP, hence the default.
alter table public.orders
    add column zip_parts smallint not null default 1,
    add constraint orders_zip_parts_check check (zip_parts between 0 and 1000);
