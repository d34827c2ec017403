-- What went wrong, for the operator: every 5xx a function answered, every job that retried
-- with an error or went dead, every automatic refund and every configuration error at
-- start-up. The same error is kept once (its fingerprint is unique) and counted: writers
-- insert with ON CONFLICT (fingerprint) DO UPDATE, so concurrent Lambdas hitting the same
-- failure add to one row instead of flooding the table. Messages are redacted before they
-- are written (no secrets, no addresses, no payloads).
create table public.error_log (
    id             bigint generated always as identity primary key,
    fingerprint    text not null,
    category       text not null,
    severity       text not null,
    -- What the entry concerns: an order, job, event, checkout or request, by id. For a
    -- request the fingerprint leaves the id out (every request has a new one), so this
    -- holds the latest request that hit the error.
    subject_type   text,
    subject_id     text,
    source         text not null,
    message        text not null,
    count          integer not null default 1,
    first_seen_at  timestamptz not null default now(),
    last_seen_at   timestamptz not null default now(),
    resolved       boolean not null default false,
    resolved_at    timestamptz,
    resolved_by    text,
    constraint error_log_fingerprint_key unique (fingerprint),
    constraint error_log_fingerprint_format check (fingerprint ~ '^[0-9a-f]{64}$'),
    constraint error_log_category_check check (category in (
        'payment', 'storage', 'restoration', 'email', 'database', 'configuration', 'validation'
    )),
    constraint error_log_severity_check check (severity in ('warning', 'error', 'critical')),
    constraint error_log_subject_check check (
        (subject_type is null) = (subject_id is null)
        and (subject_type is null or subject_type in ('order', 'job', 'event', 'checkout', 'request'))
    ),
    constraint error_log_subject_id_length check (subject_id is null or length(subject_id) <= 200),
    constraint error_log_source_length check (length(source) between 1 and 100),
    constraint error_log_message_length check (length(message) between 1 and 1000),
    constraint error_log_count_check check (count >= 1),
    constraint error_log_seen_order check (last_seen_at >= first_seen_at),
    constraint error_log_resolved_check check (resolved = (resolved_at is not null))
);

-- `errors list` reads newest first, often only what is unresolved; the metrics count
-- unresolved entries by category; cleanup reads resolved ones by age.
create index error_log_last_seen_idx on public.error_log (last_seen_at desc);
create index error_log_unresolved_idx on public.error_log (category) where not resolved;
create index error_log_resolved_at_idx on public.error_log (resolved_at) where resolved;

alter table public.error_log enable row level security;
revoke all on public.error_log from anon, authenticated, public;
grant all on public.error_log to service_role;

comment on table public.error_log is 'Errors for the operator, deduplicated by fingerprint, with a count and a resolved flag.';
