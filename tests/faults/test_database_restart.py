"""The database restarted under a running dev server: the next requests succeed."""

from __future__ import annotations

from pathlib import Path

import httpx

from infra.embedded_postgres import EmbeddedPostgres, free_port
from tests.fixtures import images
from tests.fixtures.dev_server import start_dev, stop, wait_for_health


def test_requests_succeed_after_the_database_restarts(data_dir: Path) -> None:
    port, db_port = free_port(), free_port()
    process = start_dev(data_dir, port, db_port)
    try:
        wait_for_health(port, process)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            first = client.post("/api/uploads", files=[("files", ("a.jpg", images.jpeg(), "image/jpeg"))])
            assert first.status_code == 201
            session_id = first.json()["upload_session_id"]
            server = EmbeddedPostgres(data_dir / "postgres", db_port)
            server.stop(mode="immediate")  # a crash, as far as open connections can tell
            server.start()
            # The connections the server held are dead; the next requests reconnect.
            assert client.get("/api/health").status_code == 200
            listed = client.get(f"/api/uploads/{session_id}")
            assert listed.status_code == 200 and listed.json()["photo_count"] == 1
            second = client.post(
                "/api/uploads",
                files=[("files", ("b.jpg", images.jpeg(seed=2), "image/jpeg"))],
                data={"upload_session_id": session_id},
            )
            assert second.status_code == 201 and second.json()["photo_count"] == 2
    finally:
        output = stop(process)
    assert process.returncode == 0, output
