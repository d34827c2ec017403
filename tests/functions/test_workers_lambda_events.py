"""The workers function under Lambda: a scheduled event runs the worker named in it."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from shared.core import db
from tests.functions.conftest import rows
from tests.workers.test_restoration_journey import paid_order

EVENTS = Path(__file__).resolve().parents[1] / "events"


class FakeContext:
    """What Lambda hands a handler: here only the time left matters."""

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def test_a_scheduled_event_runs_the_restoration_worker(shop: TestClient, conn: db.Connection) -> None:
    from functions.workers.handler import handler

    paid_order(shop, photos=1)
    event = json.loads((EVENTS / "eventbridge_scheduled_restoration.json").read_text())
    report = handler(event, FakeContext())
    assert report["restoration"]["succeeded"] == 1
    assert rows(conn, "select status from orders") == [{"status": "completed"}]
