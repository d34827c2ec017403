"""Peak memory of writing an order's ZIP, for few and for many restored photos.

`StorageService.write_order_zip` (what `shared.order_work.finish_order` calls) streams
each photo into a temporary file and that file into the store, 1 MiB at a time,
so its peak memory should not grow with the number of photos. Measured on the local
backend with tracemalloc: every buffer the ZIP path holds (read chunks, zipfile's own) is
a Python allocation. (In-process RSS would under-report here: the allocator reuses what
earlier benchmarks freed.)

Sizes: BENCH_ZIP_PHOTOS (default "20,200") photos of BENCH_ZIP_PHOTO_KB (default 1024) KiB.
"""

from __future__ import annotations

import os
import time
import tracemalloc
import uuid
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from shared.storage.local import LocalObjectStore
from shared.storage.service import StorageService
from tests.benchmarks.conftest import env_int, table

COUNTS = [int(n) for n in os.environ.get("BENCH_ZIP_PHOTOS", "20,200").split(",")]
PHOTO_BYTES = env_int("BENCH_ZIP_PHOTO_KB", 1024) * 1024
MIB = 1024 * 1024


def restored_photos(storage: StorageService, order_id: str, count: int) -> tuple[list[tuple[str, str]], list[int]]:
    """`count` restored photos in storage (incompressible bytes, as JPEGs are); their
    (name in archive, object path) entries and CRC-32s."""
    entries, crcs = [], []
    for n in range(count):
        data = os.urandom(PHOTO_BYTES)
        path = storage.save_restored(order_id, f"{uuid.uuid4().hex}.jpg", data, "image/jpeg")
        entries.append((f"photo{n:03d} (restored).jpg", path))
        crcs.append(zlib.crc32(data))
    return entries, crcs


def test_order_zip_memory_does_not_grow_with_photos(tmp_path: Path, report: Callable[[str], None]) -> None:
    store = LocalObjectStore(tmp_path / "storage", "photos", "bench-signing-secret", "http://127.0.0.1")
    storage = StorageService(store)
    rows = []
    for count in COUNTS:
        order_id = str(uuid.uuid4())
        entries, crcs = restored_photos(storage, order_id, count)
        tracemalloc.start()
        began = time.perf_counter()
        written = storage.write_order_zip(order_id, "restoreclick-20310101-000001", entries)
        elapsed = time.perf_counter() - began
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        # Correctness: every photo is in the archive, stored as is, byte for byte (CRC-32).
        with zipfile.ZipFile(store.file(written.path)) as archive:
            infos = archive.infolist()
            assert [i.filename for i in infos] == [name for name, _ in entries]
            assert [i.CRC for i in infos] == crcs
            assert all(i.compress_type == zipfile.ZIP_STORED and i.file_size == PHOTO_BYTES for i in infos)
            assert archive.testzip() is None
        assert written.size == store.file(written.path).stat().st_size
        store.delete([path for _, path in entries] + [written.path])

        rows.append(
            {
                "photos": count,
                "photo MiB": f"{PHOTO_BYTES / MIB:.2f}",
                "zip MiB": f"{written.size / MIB:.1f}",
                "seconds": f"{elapsed:.2f}",
                "MiB/s": f"{written.size / MIB / elapsed:.0f}",
                "python peak MiB": f"{python_peak / MIB:.2f}",
            }
        )
    report(table("order ZIP (local storage, ZIP_STORED, streamed)", rows))
