-- Requests counted per key (a client address or an upload session, per action) and per
-- fixed time window, to throttle uploads and direct-upload announcements. Counted with one
-- INSERT ... ON CONFLICT DO UPDATE, so concurrent requests, on any number of Lambda
-- containers, are counted exactly. Old windows are deleted by cleanup.
create table public.request_throttle (
    key             text not null,
    window_start    timestamptz not null,
    hits            integer not null default 1,
    primary key (key, window_start),
    constraint request_throttle_hits_check check (hits >= 1),
    constraint request_throttle_key_length check (length(key) <= 200)
);

create index request_throttle_window_start_idx on public.request_throttle (window_start);

alter table public.request_throttle enable row level security;
revoke all on public.request_throttle from anon, authenticated, public;
grant all on public.request_throttle to service_role;
