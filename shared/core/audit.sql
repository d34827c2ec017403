-- name: record_audit
insert into public.audit_logs (entity_type, entity_id, action, old_values, new_values, actor)
values (%(entity_type)s, %(entity_id)s, %(action)s, %(old_values)s, %(new_values)s, %(actor)s);
