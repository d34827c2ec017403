-- name: record_resend_request
-- The whole of the customer's request path: one insert, whatever it names.
insert into public.resend_requests (email, order_number) values (%(email)s, %(order_number)s);

-- name: match_resend_requests
-- The email worker's first step: take a page of requests (each is gone once taken), and
-- return the finished orders they name by their customer's email, one row per order,
-- leaving out an order already sent %(per_hour)s resends this hour. Run under
-- lock_resend_matching until the emails are queued, so two workers cannot both count an
-- order's resends below the limit and both queue one.
with taken as (
    delete from public.resend_requests r
    where r.id in (select id from public.resend_requests order by id limit %(batch_size)s for update skip locked)
    returning r.email, r.order_number, r.created_at
), matched as (
    select distinct on (o.id) o.id as order_id, o.order_number, o.zip_parts, t.email
    from taken t
    join public.orders o on o.order_number = t.order_number and o.deleted_at is null
    join public.customers c on c.id = o.customer_id and lower(c.email) = lower(t.email)
    where o.status in ('completed', 'partially_completed')
    order by o.id, t.created_at
)
select m.order_id, m.order_number, m.zip_parts, m.email
from matched m
where (
    select count(*) from public.email_queue q
    where q.order_id = m.order_id and q.template = 'download_links_resent'
      and q.created_at > now() - interval '1 hour'
) < %(per_hour)s;

-- name: lock_resend_matching
select pg_advisory_xact_lock(hashtext('restoreclick.resend_matching'));

-- name: resend_requests_waiting
select 1 as waiting from public.resend_requests limit 1;
