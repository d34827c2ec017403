"""Photos are judged by their bytes; customer filenames are data, never paths."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import PayloadTooLarge, RestoreClickError, UnsupportedMediaType, ValidationFailed
from shared.uploads.photo_checks import inspect_photo, sanitise_filename
from tests.fixtures import images

LIMITS = {"max_bytes": 5 * 1024 * 1024, "max_pixels": 40_000_000}
DB_FILENAME_RULE = re.compile(r"[/\\\x00-\x1f\x7f]")


def test_bytes_win_over_the_declared_name_and_type() -> None:
    png = images.png((20, 10))
    facts = inspect_photo(png, declared_filename="holiday.jpg", declared_content_type="image/jpeg", **LIMITS)
    assert (facts.content_type, facts.extension, facts.width, facts.height) == ("image/png", ".png", 20, 10)
    assert facts.sha256 == hashlib.sha256(png).hexdigest() and facts.size_bytes == len(png)
    assert facts.filename == "holiday.jpg"  # kept as the customer's label


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"", ValidationFailed, "empty_file"),
        (b"GIF89a" + b"\0" * 50, UnsupportedMediaType, "unsupported_photo_type"),
        (b"\0\0\0\x18ftypheic" + b"\0" * 50, UnsupportedMediaType, "unsupported_photo_type"),
        (images.jpeg((300, 300))[:-500], ValidationFailed, "corrupt_photo"),
        (images.png((300, 300))[:-300], ValidationFailed, "corrupt_photo"),
        (images.png_claiming(50000, 50000), PayloadTooLarge, "too_many_pixels"),
    ],
)
def test_refusals_carry_their_reason(data: bytes, error: type[RestoreClickError], code: str) -> None:
    with pytest.raises(error) as caught:
        inspect_photo(data, declared_filename="x.jpg", declared_content_type="image/jpeg", **LIMITS)
    assert caught.value.code == code


def test_heic_is_refused_with_a_way_forward() -> None:
    with pytest.raises(UnsupportedMediaType, match="JPEG"):
        inspect_photo(
            b"\0\0\0\x18ftypheic" + b"\0" * 50, declared_filename="x.heic", declared_content_type=None, **LIMITS
        )


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def test_an_oversized_stream_is_refused_without_reading_it_all() -> None:
    stream = CountingReader(b"\xff" * (20 * 1024 * 1024))
    with pytest.raises(PayloadTooLarge):
        inspect_photo(
            stream,
            declared_filename="big.jpg",
            declared_content_type=None,
            max_bytes=2 * 1024 * 1024,
            max_pixels=LIMITS["max_pixels"],
        )
    assert stream.read_bytes <= 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\pic.jpg", "pic.jpg"),
        ("", "photo"),
        ("..", "photo"),
        ("  grandma\t 1950.jpg ", "grandma 1950.jpg"),
    ],
)
def test_sanitised_filenames(name: str, expected: str) -> None:
    assert sanitise_filename(name) == expected


@given(st.text(max_size=400))
def test_any_text_becomes_a_filename_the_database_accepts(name: str) -> None:
    cleaned = sanitise_filename(name)
    assert 1 <= len(cleaned) <= 255 and len(cleaned.encode()) <= 255
    assert not DB_FILENAME_RULE.search(cleaned) and cleaned not in (".", "..")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_accepted_or_refused_with_a_domain_error(data: bytes) -> None:
    try:
        inspect_photo(data, declared_filename="x.jpg", declared_content_type=None, **LIMITS)
    except RestoreClickError as exc:
        assert 400 <= exc.status_code < 500


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 4000), st.binary(min_size=1, max_size=64))
def test_damaged_real_photos_never_escape_as_anything_but_a_domain_error(cut: int, garbage: bytes) -> None:
    photo = images.jpeg((40, 30))
    damaged = photo[:cut] + garbage + photo[cut + len(garbage) :]
    try:
        inspect_photo(damaged, declared_filename="x.jpg", declared_content_type=None, **LIMITS)
    except RestoreClickError as exc:
        assert 400 <= exc.status_code < 500
