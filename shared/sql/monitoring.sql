-- name: queue_stats
select * from public.queue_stats();

-- name: storage_bytes_used
select public.storage_bytes_used() as bytes;
