"""Stripe webhook events: verified (`signatures`), checked for shape (`shape`), recorded once
(`inbox`), applied by one handler per event type (`checkout_paid`, `checkout_payment_failed`,
`checkout_expired`, `payment_reversed`; `dispatch` routes them and is the only place an event
is marked handled), and reconciliation for events that never came (`reconcile`).
"""

__all__ = ["dispatch", "inbox", "reconcile", "shape", "signatures"]
