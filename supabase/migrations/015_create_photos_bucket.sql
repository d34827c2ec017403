-- The private storage bucket for every photo, ZIP and upload. Only Supabase has the
-- storage schema; on plain PostgreSQL (tests, embedded dev) there is nothing to create.
do $$
begin
    if to_regclass('storage.buckets') is not null then
        insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
        values ('photos', 'photos', false, 26214400,
                array['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'application/zip'])
        on conflict (id) do nothing;
    end if;
end;
$$;
