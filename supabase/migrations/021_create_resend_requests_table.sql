-- A customer's "send my download link again" is recorded as it arrives, the same way
-- whether or not it names a real order, and matched against orders later by the email
-- worker: the answer path costs the same either way, so its timing tells nobody whether
-- an email and order number belong together. Rows live only until matched.
create table public.resend_requests (
    id            bigint generated always as identity primary key,
    email         text not null,
    order_number  text not null,
    created_at    timestamptz not null default now(),
    constraint resend_requests_email_length check (length(email) between 3 and 254),
    constraint resend_requests_order_number_length check (length(order_number) between 1 and 32)
);

alter table public.resend_requests enable row level security;

comment on table public.resend_requests is
    'Download-link resend requests waiting for the email worker to match them to an order.';
