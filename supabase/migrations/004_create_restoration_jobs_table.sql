-- One restoration job per original image. Workers claim rows with FOR UPDATE SKIP LOCKED
-- and hold them under a lease (locked_until, locked_by); an expired lease is swept back
-- to pending by the next run.
create table public.restoration_jobs (
    id                      uuid primary key default gen_random_uuid(),
    order_id                uuid not null references public.orders (id) on delete restrict,
    image_id                uuid not null references public.images (id) on delete restrict,
    restored_image_id       uuid references public.images (id) on delete restrict,
    status                  text not null default 'pending',
    attempt_number          integer not null default 0,
    max_attempts            integer not null default 3,
    run_after               timestamptz not null default now(),
    locked_until            timestamptz,
    locked_by               text,
    last_error              text,
    error_history           jsonb not null default '[]'::jsonb,
    provider                text,
    provider_prediction_id  text,
    started_at              timestamptz,
    finished_at             timestamptz,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    constraint restoration_jobs_status_check check (
        status in ('pending', 'running', 'succeeded', 'dead', 'cancelled')
    ),
    constraint restoration_jobs_attempts_check check (
        attempt_number >= 0 and max_attempts between 1 and 100 and attempt_number <= max_attempts
    ),
    -- A running job always has a lease, and only a running job has one.
    constraint restoration_jobs_lease_check check (
        (status = 'running') = (locked_until is not null and locked_by is not null)
    ),
    constraint restoration_jobs_error_history_array check (jsonb_typeof(error_history) = 'array'),
    constraint restoration_jobs_prediction_key unique (provider, provider_prediction_id)
);

-- The same image is never queued twice while a job for it is pending or running.
create unique index restoration_jobs_active_image_key
    on public.restoration_jobs (image_id) where status in ('pending', 'running');

comment on table public.restoration_jobs is 'Queue of photo restorations, one per original image.';
