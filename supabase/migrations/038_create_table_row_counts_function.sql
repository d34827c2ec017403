-- Exact row counts of every table of the shop, for `restoreclick db backup` (the manifest)
-- and `db restore` (checked against it). A function, because a count per table needs a
-- statement per table: plain SQL could do it only through query_to_xml, which needs a
-- server built with libxml (the embedded one is not).
create function public.shop_table_row_counts()
    returns table (table_name text, row_count bigint)
    language plpgsql
    stable
    set search_path = ''
as $$
declare
    t record;
begin
    for t in
        select c.table_schema, c.table_name
        from information_schema.tables c
        where c.table_schema in ('public', 'supabase_migrations') and c.table_type = 'BASE TABLE'
        order by 1, 2
    loop
        table_name := t.table_schema || '.' || t.table_name;
        execute format('select count(*) from %I.%I', t.table_schema, t.table_name) into row_count;
        return next;
    end loop;
end;
$$;

-- Only the server side may call it, as every other function (migration 014's defaults).
revoke all on function public.shop_table_row_counts() from public, anon, authenticated;
grant execute on function public.shop_table_row_counts() to service_role;
