-- updated_at is kept by the database, so no code path can forget it.
create function public.set_updated_at() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create trigger customers_set_updated_at before update on public.customers
    for each row execute function public.set_updated_at();
create trigger orders_set_updated_at before update on public.orders
    for each row execute function public.set_updated_at();
create trigger images_set_updated_at before update on public.images
    for each row execute function public.set_updated_at();
create trigger restoration_jobs_set_updated_at before update on public.restoration_jobs
    for each row execute function public.set_updated_at();
create trigger email_queue_set_updated_at before update on public.email_queue
    for each row execute function public.set_updated_at();
create trigger file_uploads_set_updated_at before update on public.file_uploads
    for each row execute function public.set_updated_at();
create trigger download_links_set_updated_at before update on public.download_links
    for each row execute function public.set_updated_at();

-- Every order status change is audited by the database itself, whatever code path
-- (webhook, worker, operator CLI, a manual UPDATE) made it. The actor comes from the
-- transaction-local setting restoreclick.actor when the caller set one.
create function public.audit_order_status() returns trigger
    language plpgsql
    set search_path = ''
as $$
declare
    who text := coalesce(nullif(current_setting('restoreclick.actor', true), ''), 'system');
begin
    if tg_op = 'INSERT' then
        insert into public.audit_logs (entity_type, entity_id, action, old_values, new_values, actor)
        values ('order', new.id, 'order.created', null,
                jsonb_build_object('status', new.status, 'payment_status', new.payment_status,
                                   'order_number', new.order_number),
                who);
    elsif new.status is distinct from old.status
          or new.payment_status is distinct from old.payment_status then
        insert into public.audit_logs (entity_type, entity_id, action, old_values, new_values, actor)
        values ('order', new.id, 'order.status_changed',
                jsonb_build_object('status', old.status, 'payment_status', old.payment_status),
                jsonb_build_object('status', new.status, 'payment_status', new.payment_status),
                who);
    end if;
    return null;
end;
$$;

create trigger orders_audit_status after insert or update of status, payment_status on public.orders
    for each row execute function public.audit_order_status();

-- The audit trail is append-only.
create function public.refuse_audit_log_change() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    raise exception 'audit_logs is append-only' using errcode = 'restrict_violation';
end;
$$;

create trigger audit_logs_append_only before update or delete on public.audit_logs
    for each row execute function public.refuse_audit_log_change();
