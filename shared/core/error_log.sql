-- name: record_error
-- One row per fingerprint: a repeat adds to the count and moves last_seen_at (and the
-- subject, for a request: the latest one that hit it). A resolved error that comes back
-- is open again, since whatever resolved it did not hold.
insert into public.error_log (fingerprint, category, severity, subject_type, subject_id, source, message)
values (%(fingerprint)s, %(category)s, %(severity)s, %(subject_type)s, %(subject_id)s, %(source)s, %(message)s)
on conflict (fingerprint) do update
set count = public.error_log.count + 1,
    last_seen_at = greatest(public.error_log.last_seen_at, excluded.last_seen_at),
    severity = excluded.severity,
    subject_type = excluded.subject_type,
    subject_id = excluded.subject_id,
    resolved = false,
    resolved_at = null,
    resolved_by = null
returning id, count;

-- name: list_errors
select * from public.error_log
where (%(category)s::text is null or category = %(category)s)
  and (not %(unresolved)s or not resolved)
order by last_seen_at desc, id desc
limit %(limit)s;

-- name: error_entry
select * from public.error_log where id = %(id)s;

-- name: resolve_error
update public.error_log
set resolved = true, resolved_at = now(), resolved_by = %(actor)s
where id = %(id)s and not resolved
returning *;

-- name: unresolved_errors_by_category
select category, count(*)::int as entries, coalesce(sum(count), 0)::bigint as occurrences
from public.error_log
where not resolved
group by category
order by category;
