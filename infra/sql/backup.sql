-- Backup and restore (infra/backup.py). The shop's schemas: public (its tables) and
-- supabase_migrations (the migration history, written by the CLI and `restoreclick db`).

-- name: backup_table_counts
-- The exact row count of every table in the shop's schemas (migration 038's function).
select table_name as "table", row_count as rows from public.shop_table_row_counts();

-- name: backup_migration_history
-- Only when the history table exists (an empty database has none).
select version, name from supabase_migrations.schema_migrations order by version;

-- name: backup_has_migration_history
select to_regclass('supabase_migrations.schema_migrations') is not null as present;

-- name: backup_storage_objects
-- Every object a row names, with what the row records about it: the photos of orders
-- (originals and restored) and the uploads that still hold a photo. Deleted or expired
-- uploads and soft-deleted images name objects that are gone, so they are left out.
select 'images' as "table", i.id::text as row_id, i.storage_path as path, i.size_bytes, i.sha256
from public.images i where i.deleted_at is null
union all
select 'file_uploads', f.id::text, f.storage_path, f.size_bytes, f.sha256
from public.file_uploads f where f.status in ('pending', 'uploaded', 'claimed')
order by 1, 3;

-- name: backup_buckets
-- Supabase keeps its buckets in the storage schema, which belongs to the platform and is
-- not dumped; the rows migration 015 wrote there go in the manifest instead.
select id, name, public, file_size_limit, allowed_mime_types
from storage.buckets order by id;

-- name: backup_has_storage_schema
select to_regclass('storage.buckets') is not null as present;

-- name: restore_bucket
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values (%(id)s, %(name)s, %(public)s, %(file_size_limit)s, %(allowed_mime_types)s)
on conflict (id) do nothing;

-- name: restore_tables_present
-- What a restore would collide with: any table outside PostgreSQL's own schemas and the
-- ones a Supabase project has before anything is migrated into it.
select n.nspname || '.' || c.relname as "table"
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  and n.nspname not like 'pg_temp%%' and n.nspname not like 'pg_toast_temp%%'
  and n.nspname not in ('auth', 'storage', 'realtime', '_realtime', 'extensions', 'graphql', 'graphql_public',
                        'vault', 'pgsodium', 'pgsodium_masks', 'net', 'supabase_functions', 'cron', 'pgbouncer',
                        '_analytics', 'supabase_migrations_internal')
order by 1;

-- name: restore_roles_present
-- The roles the archive's grants name (infra/supabase_roles.sql creates them on a plain server).
select count(*) = 3 as present from pg_roles where rolname in ('anon', 'authenticated', 'service_role');

-- name: restore_leftovers_present
-- Set-aside schemas a restore left behind (killed between setting aside and putting back):
-- they may hold the only copy of what was replaced, so a restore refuses to go on.
select exists (
    select 1 from pg_namespace where nspname in ('restoreclick_replaced_public', 'restoreclick_replaced_history')
) as present;

-- name: restore_set_aside_schemas
-- Every restore, forced or not, in the restore's one transaction (infra/backup.py,
-- _restore_script): the shop's schemas (without --force, ones that hold no table) are
-- renamed out of the way; restore_drop_set_aside drops them once every row count matched,
-- and a restore that fails or differs rolls back with them in place. An empty public schema takes the
-- old one's place with its owner and privileges (a new database's public is usable by
-- every role, and the archive's CREATE SCHEMA would make one only its owner may use):
-- the restore goes into it, as into the database's own public before.
do $$
declare
    old_owner regrole;
    granted record;
begin
    if exists (select 1 from pg_namespace where nspname in ('restoreclick_replaced_public', 'restoreclick_replaced_history')) then
        raise exception 'an earlier restore left restoreclick_replaced_public or restoreclick_replaced_history behind; look at it, then drop it';
    end if;
    if exists (select 1 from pg_namespace where nspname = 'public') then
        select nspowner::regrole into old_owner from pg_namespace where nspname = 'public';
        alter schema public rename to restoreclick_replaced_public;
        create schema public;
        begin
            execute format('alter schema public owner to %%s', old_owner);
        exception when insufficient_privilege then
            null;  -- a role that may not give it away keeps it, as --no-owner does for the rest
        end;
        for granted in
            select a.grantee, a.privilege_type, a.is_grantable
            from pg_namespace n, aclexplode(n.nspacl) a
            where n.nspname = 'restoreclick_replaced_public' and a.grantee <> n.nspowner
        loop
            execute format(
                'grant %%s on schema public to %%s%%s', granted.privilege_type,
                case when granted.grantee = 0 then 'public' else granted.grantee::regrole::text end,
                case when granted.is_grantable then ' with grant option' else '' end
            );
        end loop;
    end if;
    if exists (select 1 from pg_namespace where nspname = 'supabase_migrations') then
        alter schema supabase_migrations rename to restoreclick_replaced_history;
    end if;
end;
$$;

-- name: restore_drop_set_aside
drop schema if exists restoreclick_replaced_public, restoreclick_replaced_history cascade;

-- name: restore_check_rows
-- The restore's last step, inside its one transaction (a psql script: :'expected' is the
-- manifest's row counts, quoted by psql): a count that is not the manifest's raises, and
-- the whole restore rolls back, the set-aside schemas with it. The message carries the
-- counts found, for the command to say which tables differ.
create function pg_temp.restoreclick_check_rows(expected jsonb) returns void
    language plpgsql
as $check$
declare
    found jsonb;
begin
    select coalesce(jsonb_object_agg(table_name, row_count), '{}') into found from public.shop_table_row_counts();
    if found is distinct from expected then
        raise exception 'restoreclick: restored rows differ from the manifest: %%', found;
    end if;
end;
$check$;
select pg_temp.restoreclick_check_rows(:'expected'::jsonb);

-- name: restore_has_public_schema
select exists (select 1 from pg_namespace where nspname = 'public') as present;

-- name: table_grants
-- Who may do what on each table of the shop: compared before and after a round trip.
select c.relname as "table", a.grantee::regrole::text as grantee, a.privilege_type
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join lateral aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
where n.nspname = 'public' and c.relkind = 'r' and a.grantee <> 0 and a.grantee <> c.relowner
order by 1, 2, 3;

-- name: restore_try_lock
-- One restore at a time per database (infra/backup.py: _sole_restore); the key is
-- hashtext('restoreclick db restore'), fixed so every restoring process agrees on it.
select pg_try_advisory_lock(hashtext('restoreclick db restore')) as locked;

-- name: restore_unlock
select pg_advisory_unlock(hashtext('restoreclick db restore')) as unlocked;
