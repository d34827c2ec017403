"""Run LocalRestoration on one photo in a fresh process and print what it cost, as JSON.

A process of its own, because OpenCV allocates outside Python's allocator (tracemalloc
cannot see it) and peak RSS can only be read as a high-water mark since the process began
(VmHWM; not ru_maxrss, which Linux carries over from the parent through fork and exec).

    python -m tests.benchmarks.restoration_probe PHOTO RUNS OUTPUT
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.peak_rss_probe import status_kib

ROOT = Path(__file__).resolve().parents[2]


def restore_in_fresh_process(photo: Path, runs: int, output: Path) -> dict[str, Any]:
    """Run this probe on `photo` in a new interpreter; its figures (the restored photo is
    written to `output`)."""
    probe = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.restoration_probe", str(photo), str(runs), str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    figures: dict[str, Any] = json.loads(probe.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    photo_path, runs, output = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    import cv2

    from shared.restoration.local import LocalRestoration

    photo = photo_path.read_bytes()
    provider = LocalRestoration()
    baseline = status_kib("VmHWM")  # interpreter, OpenCV and NumPy loaded, the photo read
    seconds = []
    restored = b""
    for _ in range(runs):
        began = time.perf_counter()
        restored = provider.restore(photo)
        seconds.append(time.perf_counter() - began)
    output.write_bytes(restored)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "baseline_kib": baseline,
                "peak_kib": status_kib("VmHWM"),
                "opencv_threads": cv2.getNumThreads(),
            }
        )
    )


if __name__ == "__main__":
    main()
