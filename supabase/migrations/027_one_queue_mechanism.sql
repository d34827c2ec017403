-- One queue mechanism over every queue table. restoration_jobs, email_queue and order_jobs
-- keep their names, rows and meaning; what a worker does to them (claim, complete and
-- claim, heartbeat, complete, fail, release, sweep, and the operator's list, retry and
-- cancel) is written once here, as functions that take the queue's table. Adding a queue
-- costs a table with the queue columns below and a definition in shared/jobs/queues.py.
--
-- The queue columns every queue table has: id uuid, status text (pending, the queue's
-- claimed and done states, dead, cancelled), attempt_number, max_attempts, run_after,
-- locked_until, locked_by, last_error, error_history (a jsonb array), started_at,
-- finished_at, updated_at; and a partial index on (run_after) where status = 'pending',
-- which the claim's ORDER BY run_after reads.
--
-- Why functions over the existing tables, not one job table their rows reference: each
-- table's own partial unique indexes (one active job per image, one per dedupe key) and its
-- lease CHECK read the status in the same row, so the state cannot move to another table
-- without losing those guarantees to triggers; and a claim would then join two tables
-- where it reads one index today.
--
-- Table names reach the statements as regclass (an existing relation, quoted by its own
-- output function) and states as literals quoted by format('%L'); values are bound
-- parameters ($1...). Nothing is concatenated from input.

-- 1. Align the tables: email_queue gains the claim and finish stamps the other two have,
-- so the mechanism writes the same columns everywhere. Its own stamps keep their meaning:
-- send_started_at (the provider was called) and sent_at (the provider took the message).
alter table public.email_queue
    add column started_at timestamptz,
    add column finished_at timestamptz;

-- Rows queued before this migration carry their best known times over. updated_at is left
-- as it was (the trigger would set it to now), since `jobs list` orders by it.
alter table public.email_queue disable trigger email_queue_set_updated_at;
update public.email_queue
set started_at = send_started_at,
    finished_at = case when status in ('sent', 'dead', 'cancelled') then coalesce(sent_at, updated_at) end
where send_started_at is not null or status in ('sent', 'dead', 'cancelled');
alter table public.email_queue enable trigger email_queue_set_updated_at;

-- What completing and retrying mean for an email, beyond the queue columns: a completed
-- email was sent (its CHECK wants sent_at with 'sent'; the worker normally stamps it when
-- the provider answers), and an operator's retry of a dead or cancelled one vouches that
-- the earlier attempt did not deliver, so its send_started_at trace no longer stops a send.
create function public.email_queue_completion_and_retry() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    if new.status = 'sent' and new.sent_at is null then
        new.sent_at := coalesce(new.finished_at, now());
    end if;
    if old.status in ('dead', 'cancelled') and new.status = 'pending' then
        new.send_started_at := null;
    end if;
    return new;
end;
$$;

create trigger email_queue_completion_and_retry before update on public.email_queue
    for each row
    when ((new.status = 'sent' and new.sent_at is null)
          or (old.status in ('dead', 'cancelled') and new.status = 'pending'))
    execute function public.email_queue_completion_and_retry();


-- 2. The mechanism.

-- The table whose row type `queue` has. The claims return the table's own rows, so they
-- take a NULL of that row type (`anyelement`) rather than a regclass: PostgreSQL fixes a
-- result's columns when it parses the call, from the argument's type.
create function public.queue_table(queue anyelement) returns regclass
    language plpgsql
    stable
    set search_path = ''
as $$
declare
    relation regclass;
begin
    select t.typrelid::regclass into relation
    from pg_catalog.pg_type t
    where t.oid = pg_catalog.pg_typeof(queue) and t.typrelid <> 0;
    if relation is null then
        raise exception 'a queue is named by a NULL of its table''s row type, not %', pg_catalog.pg_typeof(queue)
            using errcode = '22023';
    end if;
    return relation;
end;
$$;

-- The claim, as the text the two claiming functions run: exposed so a test can EXPLAIN the
-- very statement (PREPARE it, EXECUTE it). Parameters: $1 worker, $2 ids to complete,
-- $3 lease seconds, $4 batch size.
--
-- FOR UPDATE SKIP LOCKED: concurrent workers take disjoint batches without waiting.
-- Served by the partial index of pending rows, however many finished rows there are.
-- Ordered by run_after alone, as that index is, so a claim reads about one batch of its
-- entries however many jobs are due; a tie-breaker the index lacks (id) made every claim
-- read and sort every due row, and draining a backlog quadratic.
--
-- With `completing`, the batch just handled is completed in the same statement (as
-- queue_complete), one round trip a batch: the two parts touch different rows, claimed
-- and pending ones.
create function public.queue_claim_statement(queue regclass, claimed text, done text, completing boolean)
    returns text
    language sql
    stable
    set search_path = ''
as $$
    select case when completing then pg_catalog.format(
        'with completed as ('
        '    update %1$s set status = %3$L, locked_until = null, locked_by = null, last_error = null,'
        '        finished_at = now()'
        '    where id = any($2) and status = %2$L and locked_by = $1'
        '), ', queue, claimed, done) else 'with ' end
    || pg_catalog.format(
        'next as ('
        '    select id from %1$s'
        '    where status = ''pending'' and run_after <= now()'
        '    order by run_after'
        '    limit $4'
        '    for update skip locked'
        ') '
        'update %1$s q '
        'set status = %2$L, attempt_number = q.attempt_number + 1,'
        '    locked_until = now() + make_interval(secs => $3), locked_by = $1, started_at = now() '
        'from next '
        'where q.id = next.id '
        'returning q.*', queue, claimed)
$$;

create function public.queue_claim(
    queue anyelement, claimed text, worker text, batch_size integer, lease_seconds integer
) returns setof anyelement
    language plpgsql
    set search_path = ''
as $$
begin
    return query execute public.queue_claim_statement(public.queue_table(queue), claimed, null, false)
        using worker, null::uuid[], lease_seconds, batch_size;
end;
$$;

create function public.queue_complete_and_claim(
    queue anyelement, claimed text, done text, ids uuid[], worker text, batch_size integer, lease_seconds integer
) returns setof anyelement
    language plpgsql
    set search_path = ''
as $$
begin
    return query execute public.queue_claim_statement(public.queue_table(queue), claimed, done, true)
        using worker, ids, lease_seconds, batch_size;
end;
$$;

-- Every transition below checks the row is still the worker's (the claimed state and
-- locked_by = the worker), so a job whose lease was swept and re-claimed elsewhere can
-- never be completed twice.

-- A long job keeps its lease, so the sweep does not take it from under its worker.
create function public.queue_heartbeat(
    queue regclass, claimed text, ids uuid[], worker text, lease_seconds integer
) returns integer
    language plpgsql
    set search_path = ''
as $$
declare
    extended integer;
begin
    execute pg_catalog.format(
        'update %s set locked_until = now() + make_interval(secs => $3) '
        'where id = any($2) and status = %L and locked_by = $1', queue, claimed)
        using worker, ids, lease_seconds;
    get diagnostics extended = row_count;
    return extended;
end;
$$;

-- Finished jobs are acknowledged together, one statement per batch.
create function public.queue_complete(queue regclass, claimed text, done text, ids uuid[], worker text)
    returns integer
    language plpgsql
    set search_path = ''
as $$
declare
    completed integer;
begin
    execute pg_catalog.format(
        'update %s set status = %L, locked_until = null, locked_by = null, last_error = null, finished_at = now() '
        'where id = any($2) and status = %L and locked_by = $1', queue, done, claimed)
        using worker, ids;
    get diagnostics completed = row_count;
    return completed;
end;
$$;

-- A retryable error waits out its backoff; a terminal one, or the last attempt, is dead.
create function public.queue_fail(
    queue regclass, claimed text, job_id uuid, worker text, terminal boolean, error text, retry_in_seconds double precision
) returns table (id uuid, status text, attempt_number integer)
    language plpgsql
    set search_path = ''
as $$
begin
    return query execute pg_catalog.format(
        'update %s set'
        '    status = case when $3 or attempt_number >= max_attempts then ''dead'' else ''pending'' end,'
        '    run_after = now() + make_interval(secs => $5),'
        '    locked_until = null,'
        '    locked_by = null,'
        '    last_error = left($4, 2000),'
        '    error_history = error_history || jsonb_build_array(jsonb_build_object('
        '        ''attempt'', attempt_number, ''at'', now(), ''worker'', $1, ''error'', left($4, 2000)'
        '    )),'
        '    finished_at = case when $3 or attempt_number >= max_attempts then now() end '
        'where id = $2 and status = %L and locked_by = $1 '
        'returning id, status, attempt_number', queue, claimed)
        using worker, job_id, terminal, error, retry_in_seconds;
end;
$$;

-- Claimed but not started before the run's time ran out: back to the queue, the attempt
-- not counted.
create function public.queue_release(queue regclass, claimed text, ids uuid[], worker text)
    returns integer
    language plpgsql
    set search_path = ''
as $$
declare
    released integer;
begin
    execute pg_catalog.format(
        'update %s set status = ''pending'', attempt_number = attempt_number - 1, locked_until = null, locked_by = null '
        'where id = any($2) and status = %L and locked_by = $1', queue, claimed)
        using worker, ids;
    get diagnostics released = row_count;
    return released;
end;
$$;

-- Leases that expired belong to workers that died (SIGKILL, Lambda timeout): their jobs
-- go back to pending at once, the attempt counted, or to dead after the last one.
create function public.queue_sweep(queue regclass, claimed text)
    returns table (id uuid, status text)
    language plpgsql
    set search_path = ''
as $$
begin
    return query execute pg_catalog.format(
        'update %s set'
        '    status = case when attempt_number >= max_attempts then ''dead'' else ''pending'' end,'
        '    run_after = now(),'
        '    locked_until = null,'
        '    locked_by = null,'
        '    last_error = ''lease expired: the worker stopped mid-job'','
        '    error_history = error_history || jsonb_build_array(jsonb_build_object('
        '        ''attempt'', attempt_number, ''at'', now(), ''worker'', locked_by, ''error'', ''lease expired'''
        '    )),'
        '    finished_at = case when attempt_number >= max_attempts then now() end '
        'where status = %L and locked_until < now() '
        'returning id, status', queue, claimed);
end;
$$;

-- The operator's commands (`restoreclick jobs`).

-- A dead or cancelled job back in the queue with fresh attempts.
create function public.queue_retry(queue regclass, job_id uuid) returns table (id uuid)
    language plpgsql
    set search_path = ''
as $$
begin
    return query execute pg_catalog.format(
        'update %s set status = ''pending'', attempt_number = 0, run_after = now(), finished_at = null '
        'where id = $1 and status in (''dead'', ''cancelled'') returning id', queue)
        using job_id;
end;
$$;

create function public.queue_cancel(queue regclass, job_id uuid) returns table (id uuid)
    language plpgsql
    set search_path = ''
as $$
begin
    return query execute pg_catalog.format(
        'update %s set status = ''cancelled'', finished_at = now() '
        'where id = $1 and status in (''pending'', ''dead'') returning id', queue)
        using job_id;
end;
$$;

-- The most recently changed jobs of the queues named, each row naming its queue. order_id
-- is read through the row's jsonb, so a queue whose jobs belong to no order lists too.
create function public.queue_list(queues text[], tables regclass[], wanted_status text, max_rows integer)
    returns table (
        queue text, id uuid, order_id uuid, status text, attempt_number integer, max_attempts integer,
        run_after timestamptz, last_error text, updated_at timestamptz
    )
    language plpgsql
    stable
    set search_path = ''
as $$
begin
    if pg_catalog.cardinality(queues) = 0 then
        return;
    end if;
    return query execute (
        select pg_catalog.string_agg(pg_catalog.format(
            'select %L::text, j.id, (pg_catalog.to_jsonb(j) ->> ''order_id'')::uuid, j.status, j.attempt_number,'
            '       j.max_attempts, j.run_after, j.last_error, j.updated_at '
            'from %s j where ($1::text is null or j.status = $1)', q.name, q.relation), ' union all ')
        from unnest(queues, tables) as q(name, relation)
    ) || ' order by 9 desc limit $2'
        using wanted_status, max_rows;
end;
$$;

-- As 014 and 018 set it: only the service role runs these.
do $$
declare
    f regprocedure;
begin
    for f in
        select p.oid::regprocedure from pg_catalog.pg_proc p
        where p.pronamespace = 'public'::regnamespace
          and (p.proname like 'queue\_%' and p.proname <> 'queue_stats' or p.proname = 'email_queue_completion_and_retry')
    loop
        execute pg_catalog.format('revoke all on function %s from anon, authenticated, public', f);
        execute pg_catalog.format('grant execute on function %s to service_role', f);
    end loop;
end;
$$;
