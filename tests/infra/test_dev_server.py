"""`restoreclick dev` starts the embedded database, migrates it and serves the shop."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from infra.embedded_postgres import free_port
from shared.migrations import migration_files
from tests.fixtures.dev_server import ROOT, start_dev, stop, wait_for_health

pytestmark = pytest.mark.slow


def test_dev_starts_migrates_answers_health_and_stops_cleanly(data_dir: Path) -> None:
    tmp_path = data_dir
    port, db_port = free_port(), free_port()
    process = start_dev(tmp_path, port, db_port)
    try:
        response = wait_for_health(port, process)
    finally:
        output = stop(process)
    assert response.status_code == 200, output
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["applied_migrations"] == len(migration_files(ROOT / "supabase" / "migrations"))
    assert body["database"]["pending_migrations"] == 0
    assert f"http://127.0.0.1:{port}" in output
    assert process.returncode == 0, output
    # Ctrl-C stopped the database too.
    assert not (tmp_path / "postgres" / "pgdata" / "postmaster.pid").exists()

    # A second start reuses the data; --reset starts from empty.
    again = start_dev(tmp_path, port, db_port)
    try:
        wait_for_health(port, again)
    finally:
        second = stop(again)
    assert "0 applied now" in second
    fresh = start_dev(tmp_path, port, db_port, "--reset")
    try:
        wait_for_health(port, fresh)
    finally:
        third = stop(fresh)
    assert f"{len(migration_files(ROOT / 'supabase' / 'migrations'))} applied now" in third


def test_a_paid_order_is_restored_and_emailed_with_no_one_calling_a_worker(data_dir: Path) -> None:
    from tests.fixtures import images

    port, db_port = free_port(), free_port()
    process = start_dev(data_dir, port, db_port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(port, process)
        with httpx.Client(base_url=base, timeout=30) as client:
            files = [("files", (f"p{n}.jpg", images.jpeg(seed=n), "image/jpeg")) for n in range(2)]
            session = client.post("/api/uploads", files=files).json()
            checkout = client.post(
                "/api/checkout", json={"upload_session_id": session["upload_session_id"], "email": "ada@example.com"}
            ).json()
            paid = client.post(f"/dev/checkout/{checkout['checkout_session_id']}/pay", follow_redirects=False)
            assert paid.status_code == 303, paid.text
            deadline = time.monotonic() + 60
            status: dict = {}  # type: ignore[type-arg]
            while time.monotonic() < deadline:
                status = client.get(f"/api/restoration/status/{checkout['checkout_session_id']}").json()
                if status.get("status") == "completed":
                    break
                time.sleep(0.3)
            assert status["status"] == "completed", status
            while time.monotonic() < deadline:
                subjects = [m["subject"] for m in client.get("/dev/outbox?format=json").json()["messages"]]
                if any("ready" in s for s in subjects):
                    break
                time.sleep(0.3)
            assert any("ready" in s for s in subjects), subjects
    finally:
        output = stop(process)
    assert process.returncode == 0, output
