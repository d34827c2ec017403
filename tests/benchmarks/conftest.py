"""Benchmarks: figures printed, never timed assertions (only correctness is asserted).

Kept out of the default run by `norecursedirs`; run them apart, one process:

    uv run --frozen --extra local pytest tests/benchmarks -p no:xdist -s

Sizes come from BENCH_* environment variables, each defaulting to what sets up in well
under a minute on two shared cores; every benchmark prints the sizes it used.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from collections.abc import Callable, Sequence

import pytest

NUMBER = re.compile(r"[-+]?[\d,.]+\s*[%x]?")


@pytest.fixture(autouse=True)
def _no_upload_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Benchmarks prepare hundreds of uploads from one client address in a minute: what the
    shop's throttle is there to refuse from a real client. They measure what the throttle
    lets through, so it is off for them (0: no limit)."""
    monkeypatch.setenv("UPLOAD_THROTTLE_PER_ADDRESS", "0")
    monkeypatch.setenv("UPLOAD_THROTTLE_PER_SESSION", "0")


def env_int(name: str, default: int) -> int:
    """A size from the environment (BENCH_...), or the default."""
    raw = os.environ.get(name, "").replace("_", "")
    return int(raw) if raw else default


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summary_ms(values: Sequence[float]) -> dict[str, str]:
    """p50, p95, p99 and max of durations in seconds, as milliseconds."""
    return {
        "p50 ms": f"{percentile(values, 50) * 1000:.2f}",
        "p95 ms": f"{percentile(values, 95) * 1000:.2f}",
        "p99 ms": f"{percentile(values, 99) * 1000:.2f}",
        "max ms": f"{max(values) * 1000:.2f}",
        "mean ms": f"{statistics.fmean(values) * 1000:.2f}",
    }


def table(title: str, rows: list[dict[str, object]]) -> str:
    """A compact, aligned text table of `rows` (dicts sharing their keys)."""
    from tests.benchmarks.performance import headers_of

    headers = headers_of(rows)
    cells = [[str(row.get(h, "")) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = [f"\n== {title} ==", "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(_aligned(c, w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def lambda_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One interpreter with a function package's dependencies, made once for every
    benchmark that times imports or a cold request."""
    from tests.benchmarks.lambda_env import lambda_like_python

    return lambda_like_python(tmp_path_factory.mktemp("lambda-env"))


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print straight to the terminal, with or without -s."""

    def emit(text: str) -> None:
        with capsys.disabled():
            print(text, flush=True)

    return emit


def _aligned(cell: str, width: int) -> str:
    """Figures to the right, words to the left."""
    return cell.rjust(width) if NUMBER.fullmatch(cell) else cell.ljust(width)


def photo_jpeg(width: int, height: int, seed: int = 1, quality: int = 90) -> bytes:
    """A photo-like JPEG of any size, quickly: a gradient, film grain, dust and a scratch."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 60 + 120 * (x / width) * 0.6 + 120 * (y / height) * 0.4
    sepia = np.stack([base * 1.07, base * 0.95, base * 0.78], axis=-1)
    sepia += rng.normal(0, 12, size=(height, width, 1))
    for _ in range(max(1, width * height // 20_000)):  # dust
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        sepia[max(0, cy - 1) : cy + 2, max(0, cx - 1) : cx + 2] = 245
    sepia[:, width // 3 : width // 3 + 2] = 235  # a scratch down the print
    out = io.BytesIO()
    Image.fromarray(np.clip(sepia, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=quality)
    return out.getvalue()
