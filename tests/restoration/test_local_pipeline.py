"""The local restoration pipeline does restore: specks and scratches go, casts fade, size is bounded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shared.jobs.queue import TerminalJobError
from shared.restoration.local import MAX_SIDE, LocalRestoration


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB")).astype(float)


def smooth_print(height: int = 300, width: int = 400) -> np.ndarray:
    """A soft gradient, like the sky of an old print: nothing in it should change much."""
    y, x = np.mgrid[0:height, 0:width]
    grey = 70 + 100 * (x / width) + 30 * (y / height)
    return np.dstack([grey, grey, grey]).astype(np.uint8)


def test_dust_and_a_scratch_are_inpainted() -> None:
    clean = smooth_print()
    damaged = clean.copy()
    rng = np.random.default_rng(7)
    specks = [(int(r), int(c)) for r, c in zip(rng.integers(20, 280, 60), rng.integers(20, 380, 60), strict=True)]
    for r, c in specks:
        damaged[r : r + 2, c : c + 2] = 255  # white dust
    damaged[40:260, 200] = 15  # a dark hairline scratch
    restored = decode(LocalRestoration().restore(encode(damaged)))
    at_damage = np.zeros(clean.shape[:2], bool)
    for r, c in specks:
        at_damage[r : r + 2, c : c + 2] = True
    at_damage[40:260, 200] = True
    before = np.abs(damaged.astype(float) - clean)[at_damage].mean()
    after = np.abs(restored - clean)[at_damage].mean()
    assert before > 100 and after < before / 3, (before, after)


def test_a_yellowed_print_is_brought_back_towards_neutral() -> None:
    print_ = smooth_print().astype(float)
    yellowed = np.clip(print_ * [1.15, 1.05, 0.75], 0, 255).astype(np.uint8)
    restored = decode(LocalRestoration().restore(encode(yellowed)))

    def cast(pixels: np.ndarray) -> float:
        means = pixels.reshape(-1, 3).mean(axis=0)
        return float(means.max() - means.min())

    assert cast(restored) < cast(yellowed.astype(float)) * 0.7


def test_a_large_scan_comes_back_bounded_with_its_proportions() -> None:
    rng = np.random.default_rng(1)
    scan = (rng.random((3000, 4800, 3)) * 255).astype(np.uint8)
    restored = decode(LocalRestoration().restore(encode(scan, "JPEG")))
    height, width = restored.shape[:2]
    assert max(height, width) == MAX_SIDE and abs(width / height - 4800 / 3000) < 0.01


def test_bytes_that_are_not_a_photo_are_a_terminal_error() -> None:
    with pytest.raises(TerminalJobError):
        LocalRestoration().restore(b"not a photo at all")
