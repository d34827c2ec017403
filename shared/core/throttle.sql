-- name: count_throttled_request
-- One more request for `key` in the current fixed window; how many so far, and how many
-- seconds until the window ends (what Retry-After says).
insert into public.request_throttle as t (key, window_start)
values (%(key)s, to_timestamp(floor(extract(epoch from now()) / %(window_seconds)s) * %(window_seconds)s))
on conflict (key, window_start) do update set hits = t.hits + 1
returning t.hits,
    ceil(extract(epoch from (t.window_start + make_interval(secs => %(window_seconds)s) - now())))::integer
        as retry_after;

-- name: delete_old_throttle_windows
-- Cleanup: windows that ended long ago count nothing any more.
with old as (
    select key, window_start from public.request_throttle
    where window_start < now() - interval '1 day'
    limit %(batch_size)s
)
delete from public.request_throttle t using old
where t.key = old.key and t.window_start = old.window_start
returning t.key;
