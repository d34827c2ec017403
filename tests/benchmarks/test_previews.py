"""What previews add to each photo's restoration: seconds and peak memory, beside the
restoration itself (the local OpenCV pipeline), measured in the same run.

Each measurement runs in a fresh process, so its peak RSS is its own: the restoration in
tests/benchmarks/restoration_probe.py, the two previews (the original's and the restored
photo's, as the worker makes them) through tests/benchmarks/peak_rss_probe.py.

Sizes: BENCH_RUNS (at least 5) runs of each per photo.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from shared.restoration.previews import PREVIEW_LONG_SIDE, make_preview
from tests.benchmarks.conftest import photo_jpeg, table
from tests.benchmarks.peak_rss_probe import run_in_fresh_process
from tests.benchmarks.performance import Figure, at_most, publish, runs_from_env
from tests.benchmarks.restoration_probe import restore_in_fresh_process

PHOTOS = {"1 MP": (1224, 816), "12 MP": (4000, 3000)}
MAX_PIXELS = 80_000_000
# A preview is made on the worker after the restoration, in the same Lambda run: a tenth
# of the restoration's time at most, and for a 12 MP photo less memory than half of
# decoding it whole (4000×3000 at Pillow's 4 bytes a pixel: 46 MiB).
MAX_TIME_SHARE = 0.10
MAX_12MP_GROWTH_MIB = 23.0


def previews_case(original: str, restored: str, runs: int):  # type: ignore[no-untyped-def]
    """Both previews of one photo, `runs` times; the photos read and Pillow warmed first."""
    photos = Path(original).read_bytes(), Path(restored).read_bytes()
    make_preview(photo_jpeg(64, 48), MAX_PIXELS)

    def case() -> dict[str, object]:
        seconds, sizes = [], []
        for _ in range(runs):
            began = time.perf_counter()
            made = [make_preview(photo, MAX_PIXELS) for photo in photos]
            seconds.append(time.perf_counter() - began)
            sizes = [[p.width, p.height, len(p.data)] for p in made]
        return {"seconds": seconds, "previews": sizes}

    return case


def test_the_cost_previews_add_per_photo(tmp_path: Path, report: Callable[[str], None]) -> None:
    runs = runs_from_env()
    rows, targets = [], []
    for label, (width, height) in PHOTOS.items():
        source, restored = tmp_path / f"{width}x{height}.jpg", tmp_path / f"{width}x{height}-restored.jpg"
        source.write_bytes(photo_jpeg(width, height, seed=width))
        # One more restoration than measured: the first pays OpenCV's one-off start-up.
        restoration = restore_in_fresh_process(source, runs + 1, restored)
        restore_s = Figure.of(restoration["seconds"][1:])  # type: ignore[index]
        restore_mib = (restoration["peak_kib"] - restoration["baseline_kib"]) / 1024  # type: ignore[operator]
        previews = run_in_fresh_process(
            "tests.benchmarks.test_previews:previews_case",
            {"original": str(source), "restored": str(restored), "runs": runs},
        )
        preview_s = Figure.of(previews["result"]["seconds"])
        preview_mib = (previews["peak_kib"] - previews["baseline_kib"]) / 1024
        # Correctness: two JPEGs, each at most PREVIEW_LONG_SIDE a side.
        for preview_width, preview_height, size in previews["result"]["previews"]:
            assert max(preview_width, preview_height) <= PREVIEW_LONG_SIDE and size > 0
        with Image.open(io.BytesIO(restored.read_bytes())) as restored_photo:
            restored_size = restored_photo.size
        share = preview_s.median / restore_s.median
        kib = [size / 1024 for _, _, size in previews["result"]["previews"]]
        rows.append(
            {
                "photo": f"{label} ({width}×{height}; restored {restored_size[0]}×{restored_size[1]})",
                "restoration s": restore_s.show(1, 2),
                "both previews s": preview_s.show(1, 3),
                "previews ÷ restoration": f"{share:.3f}",
                "restoration peak growth MiB": f"{restore_mib:.0f}",
                "previews peak growth MiB": f"{preview_mib:.1f}",
                "preview KiB (original, restored)": f"{kib[0]:.0f}, {kib[1]:.0f}",
            }
        )
        targets.append(at_most(f"{label}: previews' time at most {MAX_TIME_SHARE:.0%} of the restoration's", share,
                               MAX_TIME_SHARE))  # fmt: skip
        if label == "12 MP":
            targets.append(
                at_most(
                    f"12 MP: previews' peak RSS growth at most {MAX_12MP_GROWTH_MIB:.0f} MiB (half a whole decode)",
                    preview_mib,
                    MAX_12MP_GROWTH_MIB,
                    " MiB",
                )
            )
    report(table(f"previews against the restoration, {runs} runs each, fresh process each", rows))
    report("\n".join(t.line() for t in targets))
    publish(
        "previews",
        "Previews: what they add to each photo",
        [(f"Per photo, {runs} runs each, fresh processes, median (min–max)", rows)],
        targets,
        notes=NOTES,
    )


NOTES = """
The restoration worker makes two previews a photo (the original's before restoring, the
restored photo's after), each at most 1024 px a side, JPEG quality 80. Both are timed
together here, on the same photos the restoration ran on; the restoration is the local
OpenCV pipeline (which works at most 2000 px a side), its first run (OpenCV's start-up)
left out. Peak growth is each fresh process's high-water mark (VmHWM) above its mark once
the photos were read and the libraries loaded. JPEGs are decoded in Pillow's draft mode
(libjpeg's DCT scaling), at the smallest of 1/2, 1/4 or 1/8 a side still at least the
preview's size: a 4000×3000 photo at 2000×1500. A PNG or WebP original has no such mode
and is decoded whole (bounded by UPLOAD_MAX_PIXELS, checked in its header first). With
Replicate the restoration runs elsewhere and the worker's own cost per photo is these
previews, the download and the store. The machine was shared (load average about 16 on
its 2 cores while this ran): the ratio, both measured in the same run, is the result.
"""
