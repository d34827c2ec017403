-- name: record_stripe_event
-- A new event is inserted; a redelivered one counts the attempt. Either way the row
-- comes back, and processed_at says whether its effects are already committed.
insert into public.stripe_events as e (id, type, livemode, api_version, payload)
values (%(id)s, %(type)s, %(livemode)s, %(api_version)s, %(payload)s)
on conflict (id) do update set attempts = e.attempts + 1
returning id, type, processed_at, attempts;

-- name: mark_stripe_event_handled
-- Its effects are committed (by this same transaction): later deliveries are duplicates.
-- The error, if any, is what an operator should know about an event handled anyway.
update public.stripe_events
set processed_at = coalesce(processed_at, now()), last_error = left(%(error)s, 2000)
where id = %(id)s;

-- name: record_stripe_event_error
update public.stripe_events set last_error = left(%(error)s, 2000) where id = %(id)s;

-- name: payment_reversal_for_intent
-- A full refund or a dispute already received for this payment, possibly before the order
-- existed (Stripe does not promise any order between events).
select type from public.stripe_events
where type in ('charge.refunded', 'charge.dispute.created')
  and payload -> 'data' -> 'object' ->> 'payment_intent' = %(payment_intent)s
  and (type = 'charge.dispute.created'
       or (payload -> 'data' -> 'object' ->> 'amount_refunded')::bigint
          >= (payload -> 'data' -> 'object' ->> 'amount')::bigint)
order by received_at desc
limit 1;
