"""Checking an uploaded photo by its bytes, never by its name or declared type.

A photo is accepted when Pillow identifies it as JPEG, PNG or WebP from its bytes and
decodes it completely. Everything is done on a stream in bounded memory: size and SHA-256
in 1 MiB chunks (stopping as soon as the size limit is passed), the pixel count from the
header before any pixel is decoded (decompression bombs), then a full decode that catches
truncated and corrupt files. HEIC is refused with a hint: Pillow here has no HEIC decoder.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

CHUNK = 1024 * 1024
MAX_SIDE = 30_000
EXTENSION_BY_CONTENT_TYPE = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
ACCEPTED_CONTENT_TYPES = frozenset(EXTENSION_BY_CONTENT_TYPE)
_CONTENT_TYPE_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_HEIC_BRANDS = (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypmsf1", b"ftypavif")


@dataclass(frozen=True)
class PhotoFacts:
    """What we know of an accepted photo, all of it read from its bytes."""

    filename: str
    content_type: str
    extension: str
    size_bytes: int
    width: int
    height: int
    sha256: str


def _measure(stream: IO[bytes], max_bytes: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the photo is larger than the {max_bytes} byte limit", code="photo_too_large")
        digest.update(chunk)
    return size, digest.hexdigest()


def _unsupported(head: bytes) -> UnsupportedMediaType:
    if any(brand in head[:32] for brand in _HEIC_BRANDS):
        return UnsupportedMediaType(
            "HEIC/AVIF photos are not accepted yet; export the photo as JPEG and send it again",
            code="unsupported_photo_type",
        )
    return UnsupportedMediaType(
        "this file is not a photo we accept; send a JPEG, PNG or WebP image",
        code="unsupported_photo_type",
    )


def photo_header(source: bytes | IO[bytes], max_pixels: int) -> tuple[str, int, int]:
    """(Pillow format, width, height) from the header alone, no pixel decoded; raise
    PayloadTooLarge when the photo has more than `max_pixels`, and the error that says
    why when it is not a photo we accept. Every decode of a photo calls this first."""
    from PIL import Image, UnidentifiedImageError

    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    start = stream.tell()
    head = stream.read(64)
    stream.seek(start)
    if not head:
        raise ValidationFailed("the file is empty", code="empty_file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(stream, formats=list(_CONTENT_TYPE_BY_FORMAT)) as image:
                format_name, (width, height) = image.format or "", image.size
        except UnidentifiedImageError:
            raise _unsupported(head) from None
        except Image.DecompressionBombError:
            raise PayloadTooLarge("the photo has too many pixels", code="too_many_pixels") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValidationFailed("the photo is damaged and cannot be read", code="corrupt_photo") from exc
        finally:
            stream.seek(start)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValidationFailed(f"a photo must be between 1 and {MAX_SIDE} pixels a side", code="bad_dimensions")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the photo has {width * height} pixels; the limit is {max_pixels}", code="too_many_pixels"
        )
    return format_name, width, height


def _decode(stream: IO[bytes], max_pixels: int) -> tuple[str, int, int]:
    """Identify and fully decode the image; return (content type, width, height)."""
    from PIL import Image

    stream.seek(0)
    format_name, width, height = photo_header(stream, max_pixels)
    with warnings.catch_warnings():
        # Pillow warns on large images; our own pixel limit, checked above, is the rule.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(stream, formats=[format_name]) as image:
            try:
                if image.format == "JPEG":
                    # Decoding at 1/8 scale still reads every entropy-coded byte, so a
                    # truncated file still fails, in an eighth of the memory.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()  # animated files: the first frame is the photo
            except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
                raise ValidationFailed(
                    "the photo is damaged or incomplete and cannot be read", code="corrupt_photo"
                ) from exc
    return _CONTENT_TYPE_BY_FORMAT[format_name], width, height


def inspect_photo(
    source: IO[bytes] | bytes | Path,
    *,
    declared_filename: str,
    declared_content_type: str | None,
    max_bytes: int,
    max_pixels: int,
) -> PhotoFacts:
    """Accept a photo by its bytes, or raise the domain error that says why not.

    The declared content type is ignored on purpose: the bytes decide.
    """
    del declared_content_type
    if isinstance(source, bytes):
        stream: IO[bytes] = io.BytesIO(source)
    elif isinstance(source, Path):
        stream = source.open("rb")
    else:
        stream = source
    try:
        stream.seek(0)
        size, sha256 = _measure(stream, max_bytes)
        if size == 0:
            raise ValidationFailed("the file is empty", code="empty_file")
        content_type, width, height = _decode(stream, max_pixels)
    finally:
        if isinstance(source, Path):
            stream.close()
    return PhotoFacts(
        filename=sanitise_filename(declared_filename),
        content_type=content_type,
        extension=EXTENSION_BY_CONTENT_TYPE[content_type],
        size_bytes=size,
        width=width,
        height=height,
        sha256=sha256,
    )


def sanitise_filename(name: str) -> str:
    """The customer's filename as display data: no folders, no control characters, at
    most 255 bytes of UTF-8 (the extension kept), never empty. Never raises."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() or ch == " ")
    name = " ".join(name.split()).lstrip(".").strip()
    if not name:
        return "photo"
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 10:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    while len((stem + suffix).encode("utf-8")) > 255:
        stem = stem[:-1]
    return (stem + suffix) or "photo"
