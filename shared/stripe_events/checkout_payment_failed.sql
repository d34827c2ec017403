-- name: fail_checkout
-- A delayed payment failed: nothing was taken, so the cart is the customer's again.
update public.checkouts set status = 'failed'
where id = %(checkout_id)s and status in ('open', 'awaiting_payment')
returning *;
