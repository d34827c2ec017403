"""Web previews: made once per photo by the restoration worker, bounded in memory, removed
with the order's photos."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shared.core import db
from shared.core.config import get_settings
from shared.deps import get_storage
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from shared.restoration.previews import PREVIEW_LONG_SIDE, make_preview
from tests.benchmarks.peak_rss_probe import run_in_fresh_process
from tests.fixtures import images
from tests.fixtures.db import rows
from tests.fixtures.shopping import paid_order

PREVIEW_COLUMNS = "id, type, storage_path, preview_path, preview_width, preview_height, preview_size_bytes"


def _previews(conn: db.Connection) -> list[dict]:  # type: ignore[type-arg]
    return rows(conn, f"select {PREVIEW_COLUMNS} from images order by type, storage_path")


def test_every_original_and_restored_photo_gets_one_jpeg_preview_beside_it(
    shop: TestClient, conn: db.Connection
) -> None:
    paid_order(shop, photos=2)
    run_worker("restoration", get_settings(), deadline_in(120))
    storage = get_storage()
    recorded = _previews(conn)
    assert [r["type"] for r in recorded] == ["original", "original", "restored", "restored"]
    [order] = rows(conn, "select id from orders")
    for image in recorded:
        assert image["preview_path"] == storage.preview_path_for(image["storage_path"])
        assert image["preview_path"].startswith(f"uploads/previews/{order['id']}/")
        data = storage.store.read(image["preview_path"])
        assert len(data) == image["preview_size_bytes"]
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.format == "JPEG" and decoded.size == (image["preview_width"], image["preview_height"])
    # Two photos, two previews each, and nothing else in the previews folder.
    assert len(storage.store.list(f"uploads/previews/{order['id']}/")) == 4
    # The monitor's storage in use counts them.
    used = rows(conn, "select public.storage_bytes_used() as n")[0]["n"]
    photos = rows(conn, "select sum(size_bytes)::bigint as n from images")[0]["n"]
    assert used == photos + sum(r["preview_size_bytes"] for r in recorded)


def test_a_retried_job_makes_no_second_preview(shop: TestClient, conn: db.Connection) -> None:
    paid_order(shop, photos=1)
    run_worker("restoration", get_settings(), deadline_in(60))
    first = _previews(conn)
    [order] = rows(conn, "select id from orders")
    storage = get_storage()
    listed = [o.path for o in storage.store.list(f"uploads/previews/{order['id']}/")]
    written = {path: storage.store.read(path) for path in listed}

    # A retry after the previews were recorded: nothing is made again.
    conn.execute("update restoration_jobs set status = 'pending', attempt_number = 0, finished_at = null")
    run_worker("restoration", get_settings(), deadline_in(60))
    assert _previews(conn) == first
    assert [o.path for o in storage.store.list(f"uploads/previews/{order['id']}/")] == listed
    assert {path: storage.store.read(path) for path in listed} == written

    # A job that died after storing the previews but before recording them: the retry
    # writes the same objects again, never a second one.
    conn.execute(
        "update images set preview_path = null, preview_width = null, preview_height = null, preview_size_bytes = null"
    )
    conn.execute("update restoration_jobs set status = 'pending', attempt_number = 0, finished_at = null")
    run_worker("restoration", get_settings(), deadline_in(60))
    assert _previews(conn) == first
    assert [o.path for o in storage.store.list(f"uploads/previews/{order['id']}/")] == listed


def test_a_photo_that_cannot_be_restored_still_has_its_original_preview(
    shop: TestClient, conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.jobs.queue import TerminalJobError
    from shared.restoration.local import LocalRestoration

    def refuses(self: LocalRestoration, photo: bytes) -> bytes:
        raise TerminalJobError("the photo cannot be restored")

    monkeypatch.setattr(LocalRestoration, "restore", refuses)
    paid_order(shop, photos=1)
    run_worker("restoration", get_settings(), deadline_in(60))
    [original] = _previews(conn)
    assert original["type"] == "original" and original["preview_path"]
    assert rows(conn, "select status from orders") == [{"status": "failed"}]


def test_previews_are_removed_with_the_order_photos_and_only_those(shop: TestClient, conn: db.Connection) -> None:
    paid_order(shop, photos=1)
    paid_order(shop, photos=1)
    run_worker("restoration", get_settings(), deadline_in(120))
    storage = get_storage()
    gone, kept = rows(conn, "select id from orders order by created_at")
    kept_before = [o.path for o in storage.order_objects(kept["id"])]
    removed = storage.delete_order_objects(gone["id"])
    # Original, restored photo, their two previews and the ZIP.
    assert len(removed) == 5 and sum("/previews/" in path for path in removed) == 2
    assert storage.order_objects(gone["id"]) == []
    assert [o.path for o in storage.order_objects(kept["id"])] == kept_before


def test_a_preview_is_at_most_1024_px_upright_and_without_metadata() -> None:
    big = Image.new("RGB", (4000, 3000), (180, 120, 60))
    exif = big.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90° clockwise
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    big.save(out, "JPEG", exif=exif)
    preview = make_preview(out.getvalue(), max_pixels=80_000_000)
    assert (preview.width, preview.height) == (768, PREVIEW_LONG_SIDE)
    with Image.open(io.BytesIO(preview.data)) as decoded:
        assert decoded.format == "JPEG" and decoded.size == (768, 1024)
        assert not decoded.getexif()
    # Transparency is laid on white; small photos are not enlarged.
    small = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    flat = make_preview(buffer.getvalue(), max_pixels=80_000_000)
    with Image.open(io.BytesIO(flat.data)) as decoded:
        assert decoded.size == (40, 30) and decoded.convert("RGB").getpixel((5, 5)) >= (250, 250, 250)


def test_a_photo_over_the_pixel_limit_is_refused_before_decoding() -> None:
    from shared.restoration.previews import PreviewRefused

    with pytest.raises(PreviewRefused):
        make_preview(images.png_claiming(20_000, 20_000), max_pixels=80_000_000)
    with pytest.raises(PreviewRefused):
        make_preview(b"not a photo at all", max_pixels=80_000_000)


def twelve_megapixel_jpeg(path: Path) -> None:
    """A photo-like 4000×3000 JPEG (noise in each channel), made without Python pixel lists."""
    channels = [Image.effect_noise((4000, 3000), sigma) for sigma in (40, 60, 80)]
    Image.merge("RGB", channels).save(path, "JPEG", quality=90)


def preview_case(path: str, full_decode: bool = False):  # type: ignore[no-untyped-def]
    """The photo's bytes read first (outside the measurement), then either previewed or, as
    the control, decoded at full size."""
    photo = Path(path).read_bytes()
    make_preview(images.jpeg(), max_pixels=80_000_000)  # Pillow's codecs loaded before measuring

    def case() -> dict:  # type: ignore[type-arg]
        if full_decode:
            with Image.open(io.BytesIO(photo)) as decoded:
                decoded.load()
                return {"size": list(decoded.size)}
        preview = make_preview(photo, max_pixels=80_000_000)
        return {"size": [preview.width, preview.height]}

    return case


def test_a_12_megapixel_photo_is_previewed_in_a_fraction_of_its_decoded_size(tmp_path: Path) -> None:
    """Measured as a fresh process's peak RSS above what it held before: a 4000×3000 JPEG
    is 46 MiB decoded (Pillow keeps RGB at 4 bytes a pixel); the preview decodes it at
    half a side in JPEG draft mode. The control decodes it whole in the same way, so the measure can tell the two."""
    photo = tmp_path / "twelve.jpg"
    twelve_megapixel_jpeg(photo)
    target = "tests.restoration.test_previews:preview_case"
    preview = run_in_fresh_process(target, {"path": str(photo)})
    control = run_in_fresh_process(target, {"path": str(photo), "full_decode": True})
    assert preview["result"]["size"] == [1024, 768]
    assert control["result"]["size"] == [4000, 3000]
    preview_mib = (preview["peak_kib"] - preview["baseline_kib"]) / 1024
    control_mib = (control["peak_kib"] - control["baseline_kib"]) / 1024
    assert control_mib > 30, control_mib  # a whole decode shows as what it costs
    # About 20 MiB (the draft-mode decode, 2000×1500 at 4 bytes a pixel, and the preview).
    assert preview_mib < min(24, control_mib / 2), (preview_mib, control_mib)
