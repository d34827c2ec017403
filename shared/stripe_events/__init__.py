"""Stripe webhook events: verified (`signatures`), checked for shape (`shape`), recorded once
(`inbox`), applied by one handler per event type (`dispatch` routes them), and
reconciliation for events that never came (`reconcile`).
"""

__all__ = ["dispatch", "inbox", "payment_events", "reconcile", "shape", "signatures"]
