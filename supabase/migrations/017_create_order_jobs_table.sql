-- Order-level background work on the same queue mechanism as restoration and email:
-- finishing an order (status, ZIP, download link, completion email) once all its photos
-- are final, and moving photos that the webhook could not move after commit.
create table public.order_jobs (
    id              uuid primary key default gen_random_uuid(),
    order_id        uuid not null references public.orders (id) on delete restrict,
    kind            text not null,
    dedupe_key      text not null,
    status          text not null default 'pending',
    attempt_number  integer not null default 0,
    max_attempts    integer not null default 5,
    run_after       timestamptz not null default now(),
    locked_until    timestamptz,
    locked_by       text,
    last_error      text,
    error_history   jsonb not null default '[]'::jsonb,
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint order_jobs_kind_check check (kind in ('finish_order', 'move_originals')),
    constraint order_jobs_status_check check (
        status in ('pending', 'running', 'succeeded', 'dead', 'cancelled')
    ),
    constraint order_jobs_attempts_check check (
        attempt_number >= 0 and max_attempts between 1 and 100 and attempt_number <= max_attempts
    ),
    constraint order_jobs_lease_check check (
        (status = 'running') = (locked_until is not null and locked_by is not null)
    ),
    constraint order_jobs_error_history_array check (jsonb_typeof(error_history) = 'array')
);

-- The same piece of work is never queued twice while one is pending or running.
create unique index order_jobs_active_dedupe_key
    on public.order_jobs (dedupe_key) where status in ('pending', 'running');
create index order_jobs_order_id_idx on public.order_jobs (order_id);
create index order_jobs_claimable_idx on public.order_jobs (run_after) where status = 'pending';
create index order_jobs_lease_idx on public.order_jobs (locked_until) where status = 'running';

create trigger order_jobs_set_updated_at before update on public.order_jobs
    for each row execute function public.set_updated_at();

alter table public.order_jobs enable row level security;
revoke all on public.order_jobs from anon, authenticated, public;
grant all on public.order_jobs to service_role;
