-- Outgoing email. dedupe_key names the logical message (for example
-- 'order_confirmation:<order id>'), so the same message can never be queued twice.
-- send_started_at is written before the provider is called and provider_message_id after,
-- so a crash in between leaves a trace instead of a silent second send.
create table public.email_queue (
    id                   uuid primary key default gen_random_uuid(),
    order_id             uuid references public.orders (id) on delete restrict,
    to_email             text not null,
    template             text not null,
    payload              jsonb not null default '{}'::jsonb,
    dedupe_key           text not null,
    status               text not null default 'pending',
    attempt_number       integer not null default 0,
    max_attempts         integer not null default 5,
    run_after            timestamptz not null default now(),
    locked_until         timestamptz,
    locked_by            text,
    last_error           text,
    error_history        jsonb not null default '[]'::jsonb,
    provider             text,
    provider_message_id  text,
    send_started_at      timestamptz,
    sent_at              timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint email_queue_dedupe_key_key unique (dedupe_key),
    constraint email_queue_to_email_format check (
        length(to_email) <= 254 and to_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
    ),
    constraint email_queue_template_check check (template in (
        'order_confirmation', 'restoration_complete', 'restoration_partial', 'restoration_failed',
        'download_links_resent', 'payment_failed'
    )),
    constraint email_queue_status_check check (
        status in ('pending', 'sending', 'sent', 'dead', 'cancelled')
    ),
    constraint email_queue_attempts_check check (
        attempt_number >= 0 and max_attempts between 1 and 100 and attempt_number <= max_attempts
    ),
    constraint email_queue_lease_check check (
        (status = 'sending') = (locked_until is not null and locked_by is not null)
    ),
    constraint email_queue_sent_check check ((status = 'sent') = (sent_at is not null)),
    constraint email_queue_payload_object check (jsonb_typeof(payload) = 'object'),
    constraint email_queue_error_history_array check (jsonb_typeof(error_history) = 'array'),
    constraint email_queue_dedupe_key_length check (length(dedupe_key) between 1 and 200)
);

comment on table public.email_queue is 'Queue of outgoing email, deduplicated by dedupe_key.';
