-- name: next_order_number
-- Takes the day's counter row lock until the caller's transaction ends, so concurrent
-- allocations queue up, and a rolled-back order gives its number back: gap-free.
insert into public.order_number_counters as c (day, last_value)
values ((%(at)s at time zone 'UTC')::date, 1)
on conflict (day) do update set last_value = c.last_value + 1
returning to_char(c.day, 'YYYYMMDD') || '-' || lpad(c.last_value::text, 6, '0') as order_number;

-- name: order_by_id
select * from public.orders where id = %(order_id)s and deleted_at is null;

-- name: order_by_checkout_session
select * from public.orders where stripe_checkout_session_id = %(checkout_session_id)s and deleted_at is null;

-- name: order_by_number
select * from public.orders where order_number = %(order_number)s and deleted_at is null;
