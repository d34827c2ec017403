-- name: record_send_attempt
-- Written and committed before the provider is called: if the process dies after the
-- provider accepted the message, the row still says a send was under way.
update public.email_queue
set send_started_at = now(), provider = %(provider)s
where id = %(id)s and status = 'sending' and locked_by = %(worker)s;

-- name: clear_send_attempt
-- The provider refused or was unreachable: nothing was sent, so a retry is safe.
update public.email_queue set send_started_at = null where id = %(id)s;

-- name: record_email_sent
-- Completes the job as the queue's completion would (status, finish stamp, lease), in the
-- statement that records the provider's answer.
update public.email_queue
set provider_message_id = %(message_id)s, status = 'sent', sent_at = now(), finished_at = now(),
    locked_until = null, locked_by = null
where id = %(id)s;
