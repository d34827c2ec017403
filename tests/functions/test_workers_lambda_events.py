"""The workers function under Lambda: a scheduled event runs the worker named in it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shared.core import db
from tests.fixtures.db import rows
from tests.fixtures.events import load_event
from tests.fixtures.shopping import paid_order


class FakeContext:
    """What Lambda hands a handler: here only the time left matters."""

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def test_a_scheduled_event_runs_the_restoration_worker(shop: TestClient, conn: db.Connection) -> None:
    from functions.workers.handler import handler

    paid_order(shop, photos=1)
    event = load_event("eventbridge_scheduled_restoration")
    report = handler(event, FakeContext())
    assert report["restoration"]["succeeded"] == 1
    assert rows(conn, "select status from orders") == [{"status": "completed"}]
