"""50 concurrent deliveries mixing duplicates, async success and a refund: one order, and
the refund wins whatever order they arrive in."""

from __future__ import annotations

import random
import threading

from fastapi.testclient import TestClient

from shared.core import db
from shared.deps import get_payments
from shared.payments.local_provider import LocalPayments
from tests.fixtures.db import counts, rows
from tests.fixtures.stripe_webhook import charge_event, paid_checkout, send


def test_fifty_mixed_concurrent_deliveries(shop: TestClient, conn: db.Connection) -> None:
    checkout, completed = paid_checkout(shop, photos=3)
    provider = get_payments()
    assert isinstance(provider, LocalPayments)
    succeeded = provider.event_for(
        provider.session(checkout["checkout_session_id"]), "checkout.session.async_payment_succeeded"
    )
    refund = charge_event("charge.refunded", completed["data"]["object"]["payment_intent"], checkout["amount_total"])
    deliveries = [completed] * 30 + [succeeded] * 15 + [refund] * 5
    random.Random(7).shuffle(deliveries)
    statuses: list[int] = []
    barrier = threading.Barrier(len(deliveries))

    def deliver(event: dict) -> None:  # type: ignore[type-arg]
        barrier.wait()
        statuses.append(send(shop, event).status_code)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == [200] * 50
    assert counts(conn)["orders"] == 1 and counts(conn)["images"] == 3
    assert rows(conn, "select status, payment_status from orders") == [
        {"status": "refunded", "payment_status": "refunded"}
    ]
    # Whatever was queued before the refund landed is cancelled; nothing is left to run.
    assert rows(conn, "select count(*) as n from restoration_jobs where status in ('pending', 'running')") == [{"n": 0}]
    assert rows(conn, "select count(*) as n from email_queue where status in ('pending', 'sending')") == [{"n": 0}]
    assert rows(conn, "select count(*) as n from stripe_events where processed_at is null") == [{"n": 0}]
