-- The migration history, in the very table the Supabase CLI keeps, so that
-- `supabase db push` and `restoreclick db push` can take over from each other.

-- name: ensure_migration_history
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;

-- name: migration_history_exists
select to_regclass('supabase_migrations.schema_migrations') is not null as present;

-- name: applied_migrations
select version, name, statements
from supabase_migrations.schema_migrations
order by version;

-- name: record_migration
insert into supabase_migrations.schema_migrations (version, name, statements)
values (%(version)s, %(name)s, %(statements)s);

-- name: try_migration_lock
-- A session-level advisory lock: held across the per-file transactions of one push,
-- so a second concurrent push waits and then finds nothing left to apply.
select pg_try_advisory_lock(hashtext('restoreclick.migrations')) as locked;

-- name: release_migration_lock
select pg_advisory_unlock(hashtext('restoreclick.migrations')) as released;

-- name: set_migration_lock_timeout
select set_config('lock_timeout', %(lock_timeout)s, true);
