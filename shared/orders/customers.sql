-- name: get_or_create_customer
-- One round trip, race-free: the unique index on lower(email) decides. When the row
-- exists the no-op update returns it (and revives a soft-deleted customer who paid again).
insert into public.customers (email, name)
values (%(email)s, %(name)s)
on conflict (lower(email)) do update
    set name = coalesce(public.customers.name, excluded.name),
        deleted_at = null
returning *;
