-- Order numbers are YYYYMMDD-NNNNNN, counted per UTC day. Counting today's orders and
-- adding one races; instead the allocation is one upsert on this row, which takes the
-- row lock, and rolls back with the order if the order does: unique and gap-free.
create table public.order_number_counters (
    day         date primary key,
    last_value  integer not null,
    updated_at  timestamptz not null default now(),
    constraint order_number_counters_last_value_check check (last_value between 1 and 999999)
);

create trigger order_number_counters_set_updated_at before update on public.order_number_counters
    for each row execute function public.set_updated_at();

comment on table public.order_number_counters is 'Last order number handed out per UTC day.';
