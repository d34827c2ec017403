-- The order the customer added their photos in, kept from upload to download. created_at
-- cannot carry it: an order's originals are all inserted in the one fulfilment
-- transaction (now() is the same for all of them, so `order by created_at, id` fell back
-- to random uuids) and restored photos are inserted as each restoration ends. A sequence
-- hands out strictly increasing numbers in insert order, whatever the clock does.
create sequence public.file_uploads_upload_position_seq;

alter table public.file_uploads add column upload_position bigint;
alter sequence public.file_uploads_upload_position_seq owned by public.file_uploads.upload_position;

-- Photos uploaded before this migration: their insert time (clock_timestamp() per row)
-- is the best record of their order there is.
update public.file_uploads f
set upload_position = ordered.position
from (select id, row_number() over (order by created_at, id) as position from public.file_uploads) ordered
where ordered.id = f.id;

select setval('public.file_uploads_upload_position_seq',
              coalesce((select max(upload_position) from public.file_uploads), 0) + 1, false);

alter table public.file_uploads
    alter column upload_position set default nextval('public.file_uploads_upload_position_seq'),
    alter column upload_position set not null;

-- Every image carries its photo's position: an original its upload's, a restored photo its
-- source's. A trigger sets it, so no insert (fulfilment, a restoration, a manual one) can
-- forget it or set it differently.
alter table public.images add column upload_position bigint;

update public.images i
set upload_position = f.upload_position
from public.file_uploads f
where f.id = i.file_upload_id;

update public.images r
set upload_position = s.upload_position
from public.images s
where s.id = r.source_image_id;

create function public.carry_upload_position() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    if new.type = 'original' then
        select f.upload_position into new.upload_position
        from public.file_uploads f where f.id = new.file_upload_id;
    else
        select s.upload_position into new.upload_position
        from public.images s where s.id = new.source_image_id;
    end if;
    return new;
end;
$$;

create trigger images_carry_upload_position before insert on public.images
    for each row execute function public.carry_upload_position();

alter table public.images alter column upload_position set not null;


-- Functions are executable by PUBLIC by default; only the trigger runs this one.
revoke all on function public.carry_upload_position() from anon, authenticated, public;
