"""Real images made in the tests, so every decoder path runs for real."""

from __future__ import annotations

import io
import random

from PIL import Image


def photo_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), seed: int = 1) -> bytes:
    """A small photo-like image (noise over a gradient) in the given format."""
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 255) // size[0], (y * 255) // size[1], rng.randrange(256))
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def jpeg(size: tuple[int, int] = (64, 48), seed: int = 1) -> bytes:
    return photo_bytes("JPEG", size, seed)


def png(size: tuple[int, int] = (64, 48), seed: int = 1) -> bytes:
    return photo_bytes("PNG", size, seed)


def webp(size: tuple[int, int] = (64, 48), seed: int = 1) -> bytes:
    return photo_bytes("WEBP", size, seed)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions: a decompression bomb's calling card."""
    import struct
    import zlib

    data = bytearray(png((1, 1)))
    # IHDR data starts at byte 16: width, height (big-endian); its CRC follows the 13 bytes.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)
