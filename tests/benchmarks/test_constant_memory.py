"""Constant memory: peak RSS of an upload of a small and of a large photo (multipart and
direct), and of the order ZIP for few and for many photos; and the ZIP's throughput
against a plain copy of the same bytes.

Every case runs in a fresh interpreter (tests/benchmarks/peak_rss_probe.py), since a
process's peak RSS only ever goes up and the allocator keeps what earlier work freed.
The probe reads the high-water mark once the case is set up (imports done, the app
built; for uploads, after a warm-up upload of a small photo, which opens the database
connection and loads Pillow), then after the case; rounds interleave the cases so a
noisy moment hits all of them alike.

- Multipart: `POST /api/uploads` on the upload function's own app, the photo streamed
  from disk by httpx over ASGI (no client-side copy in memory).
- Direct: announce (`POST /api/uploads/direct`), the signed PUT to the dev server's
  `/local-storage/` route (Supabase Storage's part in production), then
  `POST /api/uploads/direct/{id}/complete`, which reads the object back and checks it;
  all in the dev app, so the peak covers the storage stand-in too.
- ZIP: `StorageService.write_order_zip` (what `finish_order` calls) over restored photos
  in local storage. Its throughput is compared, in this process, with concatenating the
  same photos into one file in the same folder, and with that copy plus the CRC-32 every
  ZIP entry carries; rounds rotate which goes first.

Sizes: BENCH_UPLOAD_SMALL_KB (default 1024) and BENCH_UPLOAD_LARGE_KB (default 24576, kept
under UPLOAD_MAX_BYTES; multipart is capped below UPLOAD_REQUEST_MAX_BYTES, 4 MiB, the most
a photo inside a Lambda request may be); BENCH_ZIP_PHOTOS (default "10,200") photos of
BENCH_ZIP_PHOTO_KB (default 1024) KiB; BENCH_RUNS rounds (at least 5).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.core import db
from shared.core.config import Settings
from shared.storage.local import LocalObjectStore
from shared.storage.service import StorageService
from tests.benchmarks.conftest import env_int, photo_jpeg, table
from tests.benchmarks.peak_rss_probe import Case, run_in_fresh_process
from tests.benchmarks.performance import Figure, Target, at_least, at_most, publish, runs_from_env

KIB = 1024
MIB = 1024 * 1024
SMALL_BYTES = env_int("BENCH_UPLOAD_SMALL_KB", 1024) * KIB
LARGE_BYTES = env_int("BENCH_UPLOAD_LARGE_KB", 24 * 1024) * KIB
ZIP_COUNTS = [int(n) for n in os.environ.get("BENCH_ZIP_PHOTOS", "10,200").split(",")]
ZIP_PHOTO_BYTES = env_int("BENCH_ZIP_PHOTO_KB", 1024) * KIB
BUCKET = "photos"
CHUNK = 1024 * 1024
MAX_RATIO = 1.2
MIN_ZIP_SHARE = 0.70
THIS = "tests.benchmarks.test_constant_memory"


def test_uploads_and_the_order_zip_run_in_constant_memory(
    settings: Settings, tmp_path: Path, report: Callable[[str], None]
) -> None:
    """The probes inherit this test's environment: its database and storage folder."""
    rounds = runs_from_env()
    database_url = settings.require("database_url")
    upload_rows, upload_targets = measure_uploads(settings, tmp_path / "photos", rounds)
    zip_rows, throughput_rows, zip_targets = measure_order_zip(tmp_path / "zip", rounds)
    targets = upload_targets + zip_targets
    report(table("peak RSS of one upload, fresh process", upload_rows))
    report(table("peak RSS of the order ZIP, fresh process", zip_rows))
    report(table("order ZIP throughput against a plain copy", throughput_rows))
    report("\n".join(t.line() for t in targets))
    publish(
        "constant-memory",
        "Constant memory: uploads and the order ZIP",
        [
            (f"Peak RSS of one upload in a fresh process, MiB, {rounds} rounds", upload_rows),
            (f"Peak RSS of the order ZIP in a fresh process, MiB, {rounds} rounds", zip_rows),
            (f"Order ZIP throughput against a plain copy of the same bytes, {rounds} rounds", throughput_rows),
        ],
        targets,
        database_url,
        notes=NOTES,
    )


NOTES = """
Peak RSS is the process's high-water mark (VmHWM) after the case; the baseline is the
same mark once the process is set up (the app built and, for uploads, a warm-up upload of
a small photo done), so growth is what the case itself added. A photo sent inside a
request is at most UPLOAD_REQUEST_MAX_BYTES (4 MiB, so that the request fits Lambda's
6 MB): the multipart case compares 1 MiB with the largest a request may carry, and 25 MB
photos go the direct way, kept under UPLOAD_MAX_BYTES (25 MiB). Photos are JPEGs (quality
100, film grain), decoded at 1/8 scale by the check. A direct upload of more than 1 MiB
costs a few MiB more than a smaller one, whatever its size: the storage stand-in's spool
and the 1 MiB pieces in flight, which a photo under 1 MiB never fills.

The plain copy concatenates the same photo files into one file beside the ZIP, 1 MiB at a
time. The ZIP does the same plus a CRC-32 of every byte (the ZIP format's, by zlib) and
its headers; on local storage it is written in place through the store's writer (S3 and
Supabase spool it to a temporary file and upload that, which this does not cover). The
copy with CRC-32 is the floor for any ZIP of these bytes: where the plain copy runs from
the page cache faster than zlib's CRC-32, no ZIP writer reaches 70% of it.
"""


# -- uploads ---------------------------------------------------------------------------


def measure_uploads(settings: Settings, folder: Path, rounds: int) -> tuple[list[dict[str, object]], list[Target]]:
    folder.mkdir(parents=True)
    database_url = settings.require("database_url")
    request_limit = min(settings.upload_request_max_bytes, settings.upload_max_bytes)
    sizes = {
        "multipart": (SMALL_BYTES, min(LARGE_BYTES, int(request_limit * 0.97))),
        "direct": (SMALL_BYTES, min(LARGE_BYTES, int(settings.upload_max_bytes * 0.97))),
    }
    warm_up = folder / "warm-up.jpg"
    warm_up.write_bytes(photo_jpeg(320, 240, seed=9))
    photos: dict[int, Path] = {}
    for size in sorted({s for pair in sizes.values() for s in pair}):
        photos[size] = folder / f"scan-{size // KIB}k.jpg"
        photos[size].write_bytes(photo_of_size(size, seed=size % 97))
    cases = [(path, size) for path, pair in sizes.items() for size in pair]
    measured: dict[tuple[str, int], list[dict[str, Any]]] = {case: [] for case in cases}
    for _ in range(rounds):
        for path, size in cases:
            answer = run_in_fresh_process(
                f"{THIS}:{path}_upload", {"photo": str(photos[size]), "warm_up_photo": str(warm_up)}
            )
            check_stored_upload(database_url, settings, answer["result"], photos[size])
            measured[(path, size)].append(answer)

    rows: list[dict[str, object]] = []
    targets: list[Target] = []
    for path, (small, large) in sizes.items():
        peaks = {size: Figure.of([a["peak_kib"] / KIB for a in measured[(path, size)]]) for size in (small, large)}
        for size in (small, large):
            answers = measured[(path, size)]
            rows.append(
                {
                    "path": path,
                    "photo MiB": f"{photos[size].stat().st_size / MIB:.2f}",
                    "baseline RSS": Figure.of([a["baseline_kib"] / KIB for a in answers]).show(),
                    "peak RSS": peaks[size].show(),
                    "growth": Figure.of([(a["peak_kib"] - a["baseline_kib"]) / KIB for a in answers]).show(),
                    "request s": Figure.of([a["result"]["seconds"] for a in answers]).show(digits=2),
                }
            )
        ratio = peaks[large].median / peaks[small].median
        small_mib, large_mib = photos[small].stat().st_size / MIB, photos[large].stat().st_size / MIB
        rows.append({"path": path, "photo MiB": f"{large_mib / small_mib:.1f}× larger", "peak RSS": f"{ratio:.2f}×"})
        targets.append(
            at_most(
                f"{path} upload: peak RSS for a {large_mib:.1f} MiB photo at most {MAX_RATIO}× for {small_mib:.1f} MiB",
                ratio,
                MAX_RATIO,
            )
        )
    return rows, targets


def photo_of_size(size: int, seed: int) -> bytes:
    """A photo-like JPEG of 93–100% of `size` bytes (quality 100 keeps the grain: ~0.9 B/px)."""
    pixels = size / 0.9
    for _ in range(6):
        width = max(16, int((pixels * 4 / 3) ** 0.5))
        data = photo_jpeg(width, width * 3 // 4, seed=seed, quality=100)
        if 0.93 * size <= len(data) <= size:
            return data
        pixels *= 0.965 * size / len(data)
    raise AssertionError(f"no photo of about {size} bytes; last was {len(data)}")


def check_stored_upload(database_url: str, settings: Settings, result: dict[str, Any], photo: Path) -> None:
    """Correctness: the upload was accepted and storage holds exactly the photo's bytes."""
    assert result["statuses"] == result["expected_statuses"], result
    sent = photo.read_bytes()
    with db.connect(database_url) as conn:
        row = conn.execute(
            "select storage_path, size_bytes, sha256, status from file_uploads where id = %s", [result["photo_id"]]
        ).fetchone()
    assert row is not None and row["status"] == "uploaded"
    assert row["size_bytes"] == len(sent) and row["sha256"] == hashlib.sha256(sent).hexdigest()
    stored = settings.storage_dir / settings.storage_bucket / row["storage_path"]
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(sent).digest()


# What the probe runs in its fresh process.


def multipart_upload(photo: str, warm_up_photo: str) -> Case:
    from functions.upload.handler import app

    asyncio.run(_post_multipart(app, Path(warm_up_photo)))

    def case() -> dict[str, Any]:
        began = time.perf_counter()
        answer = asyncio.run(_post_multipart(app, Path(photo)))
        return answer | {"seconds": time.perf_counter() - began}

    return case


def direct_upload(photo: str, warm_up_photo: str) -> Case:
    from infra.dev_server import build_dev_app
    from shared.core.config import get_settings

    app = build_dev_app(get_settings())
    asyncio.run(_upload_direct(app, Path(warm_up_photo)))

    def case() -> dict[str, Any]:
        began = time.perf_counter()
        answer = asyncio.run(_upload_direct(app, Path(photo)))
        return answer | {"seconds": time.perf_counter() - began}

    return case


def _client(app: Any) -> Any:
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")


async def _post_multipart(app: Any, photo: Path) -> dict[str, Any]:
    async with _client(app) as client:
        with photo.open("rb") as stream:  # httpx streams a file part in 64 KiB pieces
            response = await client.post("/api/uploads", files={"files": (photo.name, stream, "image/jpeg")})
    body = response.json()
    return {
        "statuses": [response.status_code],
        "expected_statuses": [201],
        "photo_id": body["photos"][0]["id"] if response.status_code == 201 else None,
    }


async def _upload_direct(app: Any, photo: Path) -> dict[str, Any]:
    size = photo.stat().st_size

    async def pieces() -> AsyncIterator[bytes]:
        with photo.open("rb") as stream:
            while piece := stream.read(CHUNK):
                yield piece

    async with _client(app) as client:
        announced = await client.post(
            "/api/uploads/direct",
            json={"files": [{"filename": photo.name, "size": size, "content_type": "image/jpeg"}]},
        )
        slot = announced.json()["files"][0]
        url = urlsplit(slot["upload_url"])
        put = await client.request(
            slot["upload_method"],
            f"{url.path}?{url.query}",
            content=pieces(),
            headers={**slot["upload_headers"], "content-length": str(size)},
        )
        completed = await client.post(f"/api/uploads/direct/{slot['id']}/complete")
    return {
        "statuses": [announced.status_code, put.status_code, completed.status_code],
        "expected_statuses": [201, 200, 200],
        "photo_id": slot["id"],
    }


# -- the order ZIP ---------------------------------------------------------------------


def measure_order_zip(
    folder: Path, rounds: int
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[Target]]:
    store = LocalObjectStore(folder / "storage", BUCKET, "bench-signing-secret", "http://127.0.0.1")
    storage = StorageService(store)
    order_id = str(uuid.uuid4())
    entries, crcs = restored_photos(storage, order_id, max(ZIP_COUNTS))
    peaks: dict[int, list[dict[str, Any]]] = {count: [] for count in ZIP_COUNTS}
    for _ in range(rounds):
        for count in ZIP_COUNTS:
            arguments = {"storage_dir": str(folder / "storage"), "order_id": order_id, "entries": entries[:count]}
            answer = run_in_fresh_process(f"{THIS}:order_zip", arguments)
            check_order_zip(store, answer["result"]["path"], entries[:count], crcs[:count])
            peaks[count].append(answer)

    zip_rows: list[dict[str, object]] = []
    for count in ZIP_COUNTS:
        answers = peaks[count]
        zip_rows.append(
            {
                "photos": count,
                "ZIP MiB": f"{count * ZIP_PHOTO_BYTES / MIB:.0f}",
                "baseline RSS": Figure.of([a["baseline_kib"] / KIB for a in answers]).show(),
                "peak RSS": Figure.of([a["peak_kib"] / KIB for a in answers]).show(),
                "growth": Figure.of([(a["peak_kib"] - a["baseline_kib"]) / KIB for a in answers]).show(),
                "seconds": Figure.of([a["result"]["seconds"] for a in answers]).show(digits=2),
            }
        )
    few, many = min(ZIP_COUNTS), max(ZIP_COUNTS)
    peak_ratio = median_peak(peaks[many]) / median_peak(peaks[few])
    zip_rows.append({"photos": f"{many} vs {few}", "peak RSS": f"{peak_ratio:.2f}×"})

    # Rotated each round, so that no contender always runs first (or after the same one).
    contenders = {"zip": zip_once, "copy": copy_once, "copy + CRC-32": copy_with_crc_once}
    seconds: dict[str, list[float]] = {what: [] for what in contenders}
    for round_number in range(rounds):
        order = list(contenders)[round_number % 3 :] + list(contenders)[: round_number % 3]
        for what in order:
            seconds[what].append(contenders[what](storage, order_id, entries, crcs))
    total = many * ZIP_PHOTO_BYTES
    speed = {what: Figure.of([total / MIB / s for s in values]) for what, values in seconds.items()}
    share = speed["zip"].median / speed["copy"].median
    labels = {
        "zip": f"write_order_zip, {many} photos",
        "copy": "plain copy of the same files into one",
        "copy + CRC-32": "the same copy, with a CRC-32 of every byte",
    }
    throughput_rows: list[dict[str, object]] = [
        {"what": labels[what], "seconds": Figure.of(seconds[what]).show(digits=2), "MiB/s": speed[what].show(digits=0)}
        for what in contenders
    ]
    throughput_rows += [
        {"what": "ZIP / plain copy", "MiB/s": f"{share:.0%}"},
        {"what": "ZIP / copy with CRC-32", "MiB/s": f"{speed['zip'].median / speed['copy + CRC-32'].median:.0%}"},
    ]
    targets = [
        at_most(f"order ZIP: peak RSS for {many} photos at most {MAX_RATIO}× for {few}", peak_ratio, MAX_RATIO),
        at_least(f"order ZIP throughput at least {MIN_ZIP_SHARE:.0%} of a plain copy", share, MIN_ZIP_SHARE),
    ]
    return zip_rows, throughput_rows, targets


def median_peak(answers: list[dict[str, Any]]) -> float:
    return Figure.of([a["peak_kib"] for a in answers]).median


def restored_photos(storage: StorageService, order_id: str, count: int) -> tuple[list[list[str]], list[int]]:
    """`count` restored photos in storage (incompressible bytes, as JPEGs are); their
    [name in archive, object path] entries and CRC-32s."""
    entries, crcs = [], []
    for n in range(count):
        data = os.urandom(ZIP_PHOTO_BYTES)
        path = storage.save_restored(order_id, f"{uuid.uuid4().hex}.jpg", data, "image/jpeg")
        entries.append([f"photo{n:03d} (restored).jpg", path])
        crcs.append(zlib.crc32(data))
    return entries, crcs


def check_order_zip(store: LocalObjectStore, path: str, entries: list[list[str]], crcs: list[int]) -> None:
    """Correctness: every photo is in the archive, stored as is, byte for byte (CRC-32);
    then the archive is removed, so rounds do not pile up."""
    with zipfile.ZipFile(store.file(path)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == [name for name, _ in entries]
        assert [i.CRC for i in infos] == crcs
        assert all(i.compress_type == zipfile.ZIP_STORED and i.file_size == ZIP_PHOTO_BYTES for i in infos)
        assert archive.testzip() is None
    store.delete([path])


def zip_once(storage: StorageService, order_id: str, entries: list[list[str]], crcs: list[int]) -> float:
    began = time.perf_counter()
    written = storage.write_order_zip(order_id, f"restoreclick-{uuid.uuid4().hex[:8]}", [(n, p) for n, p in entries])
    elapsed = time.perf_counter() - began
    check_order_zip(storage.store, written.path, entries, crcs)  # type: ignore[arg-type]
    return elapsed


def copy_once(storage: StorageService, order_id: str, entries: list[list[str]], crcs: list[int]) -> float:
    return _concatenate(storage, order_id, entries, None)


def copy_with_crc_once(storage: StorageService, order_id: str, entries: list[list[str]], crcs: list[int]) -> float:
    """The copy plus the one thing a ZIP must add to every byte (its entries' CRC-32)."""
    found: list[int] = []
    elapsed = _concatenate(storage, order_id, entries, found)
    assert found == crcs
    return elapsed


def _concatenate(storage: StorageService, order_id: str, entries: list[list[str]], crcs: list[int] | None) -> float:
    """Seconds to copy the photos into one file beside the ZIP, 1 MiB at a time (and take
    each one's CRC-32 into `crcs` when given)."""
    store: LocalObjectStore = storage.store  # type: ignore[assignment]
    target = store.file(storage.zip_path(order_id, f"plain-copy-{uuid.uuid4().hex[:8]}"))
    began = time.perf_counter()
    with target.open("wb") as out:
        for _, path in entries:
            crc = 0
            with store.open(path) as source:
                while piece := source.read(CHUNK):
                    if crcs is not None:
                        crc = zlib.crc32(piece, crc)
                    out.write(piece)
            if crcs is not None:
                crcs.append(crc)
    elapsed = time.perf_counter() - began
    assert target.stat().st_size == len(entries) * ZIP_PHOTO_BYTES
    target.unlink()
    return elapsed


def order_zip(storage_dir: str, order_id: str, entries: list[list[str]]) -> Case:
    """Probe case: write one order ZIP from photos already in local storage."""
    storage = StorageService(LocalObjectStore(Path(storage_dir), BUCKET, "bench-signing-secret", "http://127.0.0.1"))

    def case() -> dict[str, Any]:
        began = time.perf_counter()
        written = storage.write_order_zip(
            order_id, f"restoreclick-{uuid.uuid4().hex[:8]}", [(n, p) for n, p in entries]
        )
        return {"path": written.path, "size": written.size, "seconds": time.perf_counter() - began}

    return case
