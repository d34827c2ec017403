-- `restoreclick db health` (infra/db_health.py): read-only views of the server's
-- statistics. The thresholds they are judged by are in db_health.py and the README.
--
-- pg_relation_size and its kin take a share lock on the relation, so they would queue
-- behind a migration's exclusive lock (granted or waiting) -- and health is what an
-- operator runs exactly then. For a relation with such a lock the size is the planner's
-- page count instead (`estimated`), and the command also sets a lock timeout.

-- name: health_lock_timeout
-- For the health transaction alone (a pooler hands the session on to others).
select set_config('lock_timeout', %(ms)s, true) as lock_timeout;

-- name: health_table_sizes
with tables as (
    select c.oid, c.relname, c.relpages, c.reltuples,
           exists (select 1 from pg_locks l where l.relation = c.oid and l.mode = 'AccessExclusiveLock') as locked
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r'
), sized as (
    select t.relname, t.reltuples, t.locked,
           case when t.locked then null else pg_total_relation_size(t.oid) end as total_bytes,
           case when t.locked then t.relpages::bigint * current_setting('block_size')::bigint
                else pg_relation_size(t.oid) end as table_bytes,
           case when t.locked then null else pg_indexes_size(t.oid) end as index_bytes
    from tables t
)
select relname as "table", coalesce(total_bytes, table_bytes) as total_bytes, table_bytes, index_bytes,
       greatest(reltuples, 0)::bigint as estimated_rows, locked as estimated
from sized
order by 2 desc, 1;

-- name: health_index_usage
-- Every index with its size and how often it was scanned since the statistics were last
-- reset. A unique or primary-key index enforces a rule whether or not it is read.
with indexes as (
    select s.relname, s.indexrelname, s.indexrelid, s.idx_scan, i.indisunique, i.indisprimary, ix.relpages,
           exists (select 1 from pg_locks l where l.relation in (s.indexrelid, s.relid)
                   and l.mode = 'AccessExclusiveLock') as locked
    from pg_stat_user_indexes s
    join pg_index i on i.indexrelid = s.indexrelid
    join pg_class ix on ix.oid = s.indexrelid
    where s.schemaname = 'public'
)
select relname as "table", indexrelname as index,
       case when locked then relpages::bigint * current_setting('block_size')::bigint
            else pg_relation_size(indexrelid) end as bytes,
       idx_scan as scans, indisunique as is_unique, indisprimary as is_primary, locked as estimated
from indexes
order by 3 desc, 2;

-- name: health_duplicate_indexes
-- Indexes on the same table with the same columns, operator classes, expressions and
-- predicate: all but one are pure write cost.
select t.relname as "table", array_agg(ix.relname order by ix.relname) as indexes,
       sum(ix.relpages::bigint * current_setting('block_size')::bigint) as bytes
from pg_index i
join pg_class ix on ix.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = t.relnamespace
where n.nspname = 'public'
-- The expression and predicate trees compared as stored: pg_get_expr would lock the table.
group by t.relname, i.indkey::text, i.indclass::text, coalesce(i.indexprs::text, ''), coalesce(i.indpred::text, '')
having count(*) > 1
order by 1;

-- name: health_table_bloat
-- An estimate, from the planner's statistics: the pages the live rows need (their average
-- width from pg_stats, plus the tuple header and line pointer, packed into pages) against
-- the pages the table has. Tables never analysed have no estimate.
with widths as (
    select tablename, sum(avg_width)::numeric as row_width
    from pg_stats where schemaname = 'public'
    group by tablename
), sizes as (
    -- The planner's page count, like its row count: the two are measured together.
    select c.relname, c.relpages::bigint * current_setting('block_size')::bigint as bytes,
           greatest(c.reltuples, 0) as reltuples, w.row_width,
           current_setting('block_size')::numeric as block
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join widths w on w.tablename = c.relname
    where n.nspname = 'public' and c.relkind = 'r'
)
select relname as "table", bytes,
       (ceil(reltuples / greatest(1, floor((block - 24) / (row_width + 28)))) * block)::bigint as needed_bytes,
       greatest(0, bytes - ceil(reltuples / greatest(1, floor((block - 24) / (row_width + 28)))) * block)::bigint
           as bloat_bytes
from sizes
order by 4 desc, 1;

-- name: health_cache_hit_ratio
-- Share of the shop's table and index block reads served from shared buffers.
select coalesce(sum(heap_blks_hit + coalesce(idx_blks_hit, 0)), 0)::bigint as hits,
       coalesce(sum(heap_blks_read + coalesce(idx_blks_read, 0)), 0)::bigint as reads
from pg_statio_user_tables where schemaname = 'public';

-- name: health_dead_tuples
select relname as "table", n_live_tup as live, n_dead_tup as dead,
       last_autovacuum, last_vacuum, last_autoanalyze, autovacuum_count
from pg_stat_user_tables where schemaname = 'public'
order by n_dead_tup desc, relname;

-- name: health_long_queries
-- Statements running (or transactions held open) for a while, on this database, other
-- than this one.
select pid, usename as "user", application_name, state,
       extract(epoch from now() - coalesce(xact_start, query_start))::int as seconds,
       left(query, 200) as query
from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid()
  and state in ('active', 'idle in transaction', 'idle in transaction (aborted)')
  and now() - coalesce(xact_start, query_start) > make_interval(secs => %(min_seconds)s)
order by seconds desc;

-- name: health_lock_waits
select pid, pg_blocking_pids(pid) as blocked_by, wait_event,
       extract(epoch from now() - query_start)::int as seconds, left(query, 200) as query
from pg_stat_activity
where datname = current_database() and wait_event_type = 'Lock'
order by seconds desc;
