"""Upload intake: photos per second through POST /api/uploads, in process.

The `shop` fixture's client drives the whole dev app over ASGI (no sockets): multipart
parsing, the byte checks of every photo (size, SHA-256, a full decode), local storage,
and the transaction that records the session and its photos. Clients run in threads,
as concurrent browsers would; the app runs sync endpoints in its thread pool.

Sizes: BENCH_UPLOAD_PHOTOS (default 400 photos per scenario) of 1000x750 px JPEG.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from shared.core import db
from shared.core.config import Settings
from tests.benchmarks.conftest import env_int, photo_jpeg, summary_ms, table
from tests.fixtures.db import rows, stored_files

PHOTOS = env_int("BENCH_UPLOAD_PHOTOS", 400)
# (photos per request, concurrent clients)
SCENARIOS = [(1, 1), (10, 1), (1, 4), (10, 4)]


def test_upload_intake_throughput(
    shop: TestClient, conn: db.Connection, settings: Settings, report: Callable[[str], None]
) -> None:
    photos = [photo_jpeg(1000, 750, seed=n) for n in range(10)]
    mib = sum(len(p) for p in photos) / len(photos) / 1024 / 1024
    results = []
    expected_photos = 0
    for per_request, clients in SCENARIOS:
        requests = PHOTOS // per_request

        def upload(n: int, per_request: int = per_request) -> float:
            files = [("files", (f"p{n}-{i}.jpg", photos[(n + i) % 10], "image/jpeg")) for i in range(per_request)]
            began = time.perf_counter()
            response = shop.post("/api/uploads", files=files)
            elapsed = time.perf_counter() - began
            assert response.status_code == 201, response.text
            assert response.json()["photo_count"] == per_request
            return elapsed

        upload(-1)  # warm up: first imports, first connection of the pool's threads
        expected_photos += per_request
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(upload, range(requests)))
        elapsed = time.perf_counter() - began
        expected_photos += requests * per_request
        results.append(
            {
                "photos/request": per_request,
                "clients": clients,
                "photos": requests * per_request,
                "seconds": f"{elapsed:.2f}",
                "photos/s": f"{requests * per_request / elapsed:.1f}",
                "MiB/s": f"{requests * per_request * mib / elapsed:.1f}",
                **{f"request {k}": v for k, v in summary_ms(latencies).items() if k in ("p50 ms", "p95 ms")},
            }
        )

    # Correctness: every photo accepted is one row and one object, nothing more.
    assert rows(conn, "select count(*) as n from file_uploads where status = 'uploaded'") == [{"n": expected_photos}]
    assert len(stored_files(settings)) == expected_photos
    report(table(f"POST /api/uploads in process ({mib:.2f} MiB JPEG, 1000x750 px)", results))
