"""Local restoration (shared/restoration/local.py): seconds and peak memory per photo.

Each photo is restored in a fresh process (tests/benchmarks/restoration_probe.py), so
its peak RSS is the restoration's own: OpenCV's buffers are invisible to tracemalloc.
The first run includes OpenCV's one-off start-up; later runs are the steady state.
Photos larger than 2000 px a side are scaled down first, so 12 MP costs about what 3 MP does.

Sizes: BENCH_RESTORATION_RUNS (default 2 runs per photo).
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from shared.restoration.local import MAX_SIDE
from tests.benchmarks.conftest import env_int, photo_jpeg, table
from tests.benchmarks.restoration_probe import restore_in_fresh_process

RUNS = env_int("BENCH_RESTORATION_RUNS", 2)
PHOTOS = {"1 MP": (1224, 816), "12 MP": (4000, 3000)}


def test_local_restoration_time_and_memory(tmp_path: Path, report: Callable[[str], None]) -> None:
    rows = []
    for label, (width, height) in PHOTOS.items():
        source = tmp_path / f"{width}x{height}.jpg"
        source.write_bytes(photo_jpeg(width, height, seed=width))
        restored_path = tmp_path / f"{width}x{height}-restored.jpg"
        figures = restore_in_fresh_process(source, RUNS, restored_path)

        # Correctness: a JPEG of the photo, scaled to at most MAX_SIDE a side, shape kept.
        with Image.open(io.BytesIO(restored_path.read_bytes())) as restored:
            assert restored.format == "JPEG"
            scale = min(1.0, MAX_SIDE / max(width, height))
            assert restored.size == (round(width * scale), round(height * scale))

        seconds = figures["seconds"]
        rows.append(
            {
                "photo": label,
                "pixels in": f"{width}x{height}",
                "pixels worked": f"{restored.size[0]}x{restored.size[1]}",
                "input MiB": f"{source.stat().st_size / 2**20:.2f}",
                "first run s": f"{seconds[0]:.2f}",
                "later runs s": f"{statistics.median(seconds[1:]):.2f}" if len(seconds) > 1 else "n/a",
                "peak RSS growth MiB": f"{(figures['peak_kib'] - figures['baseline_kib']) / 1024:.0f}",
                "peak RSS MiB": f"{figures['peak_kib'] / 1024:.0f}",
                "cv2 threads": figures["opencv_threads"],
            }
        )
    report(table(f"local restoration (OpenCV), {RUNS} run(s) per photo, fresh process each", rows))
