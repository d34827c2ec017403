-- name: database_health
select current_setting('server_version') as server_version,
       current_database() as database,
       (select count(*) from supabase_migrations.schema_migrations)::int as applied_migrations,
       (select max(version) from supabase_migrations.schema_migrations) as latest_migration;
