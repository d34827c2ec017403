-- An order stopped by a refund or a dispute before its photos were all restored never got
-- completed_at, and photo retention counts from completed_at: such an order's originals and
-- the photos restored before the stop were kept for ever. The reversal now stamps
-- completed_at itself (shared/payments/refunds.sql, reverse_order_payment); the orders
-- stopped before that take the best time known for the stop, their last update (nothing
-- updates a stopped order after it: finishing only touches paid or processing ones).
-- updated_at is left as it was (the trigger would set it to now).
alter table public.orders disable trigger orders_set_updated_at;
update public.orders
set completed_at = updated_at
where status in ('refunded', 'disputed') and completed_at is null;
alter table public.orders enable trigger orders_set_updated_at;
