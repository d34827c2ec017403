-- Append-only history of what changed and who changed it. Rows are never updated or
-- deleted (a trigger in 010 refuses it).
create table public.audit_logs (
    id           bigint generated always as identity primary key,
    entity_type  text not null,
    entity_id    uuid not null,
    action       text not null,
    old_values   jsonb,
    new_values   jsonb,
    actor        text not null default 'system',
    created_at   timestamptz not null default now(),
    constraint audit_logs_entity_type_check check (entity_type in (
        'customer', 'order', 'image', 'restoration_job', 'email', 'file_upload',
        'upload_session', 'checkout', 'download_link'
    )),
    constraint audit_logs_action_check check (action ~ '^[a-z][a-z_.]{1,63}$'),
    constraint audit_logs_actor_check check (length(actor) between 1 and 200)
);

comment on table public.audit_logs is 'Append-only record of changes, every order status change among them.';
