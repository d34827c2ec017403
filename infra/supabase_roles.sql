-- The roles a Supabase database has, for a plain PostgreSQL (embedded dev, tests, CI).
-- Supabase's migrations grant and revoke on these, so they must exist before any
-- migration runs. Roles belong to the whole cluster: this runs once per server and is
-- safe to run again.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
end;
$$;

grant anon, authenticated, service_role to authenticator;
