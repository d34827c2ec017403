"""A real, classical restoration pipeline for old photos, with OpenCV (local only).

denoise → find dust and scratches and inpaint them → even out contrast (CLAHE on
lightness) → neutralise a colour cast (grey world) → gentle unsharp mask. Bounded in
time and memory: big photos are decoded already reduced, and worked on at most MAX_SIDE
pixels a side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.jobs.queue import TerminalJobError
from shared.restoration.base import JPEG_QUALITY, RestorationProvider

# OpenCV and NumPy are imported where a photo is restored, never with this module; the
# helpers below import them again, which costs a lookup once `restore` has loaded them.
if TYPE_CHECKING:
    from cv2.typing import MatLike

MAX_SIDE = 2000


class LocalRestoration(RestorationProvider):
    name = "local"

    def __init__(self, max_pixels: int = 80_000_000) -> None:
        self.max_pixels = max_pixels

    def restore(self, photo: bytes) -> bytes:
        import cv2
        import numpy as np

        from shared.core.errors import RestoreClickError
        from shared.uploads.photo_checks import photo_header

        # OpenCV decodes whatever it is given, at full size: the header is read first, so
        # a photo over the pixel limit (or not a photo we accept) is never decoded.
        try:
            _, width, height = photo_header(photo, self.max_pixels)
        except RestoreClickError as exc:
            raise TerminalJobError(f"the photo cannot be restored: {exc.message}") from None
        decoded = cv2.imdecode(np.frombuffer(photo, dtype=np.uint8), _decode_flag(max(width, height)))
        if decoded is None:
            raise TerminalJobError("the photo cannot be decoded")
        image = _bounded(decoded)
        # Small windows: most of the benefit of non-local means at a fraction of its cost.
        image = cv2.fastNlMeansDenoisingColored(image, None, 4, 4, 5, 11)
        image = _remove_dust_and_scratches(image)
        image = _even_contrast(image)
        image = _neutral_colour(image)
        image = _sharpen(image)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise TerminalJobError("the restored photo could not be encoded")
        return encoded.tobytes()


def _decode_flag(longest: int) -> int:
    """Decode big photos already reduced (1/2, 1/4, 1/8), never below MAX_SIDE: a 50 MP scan
    then costs a quarter or less of its full-size memory before it is scaled to MAX_SIDE."""
    import cv2

    for factor, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if longest // factor >= MAX_SIDE:
            return int(flag)
    return int(cv2.IMREAD_COLOR)


def _bounded(image: MatLike) -> MatLike:
    import cv2

    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def _remove_dust_and_scratches(image: MatLike) -> MatLike:
    import cv2
    import numpy as np

    # Dust is small and much brighter (or darker) than its surroundings: top-hat and
    # black-hat with a small kernel find exactly those specks and thin scratches.
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    specks = cv2.add(
        cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    )
    _, mask = cv2.threshold(specks, 40, 255, cv2.THRESH_BINARY)
    mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    if not mask.any():
        return image
    return cv2.inpaint(image, mask, 3, cv2.INPAINT_TELEA)


def _even_contrast(image: MatLike) -> MatLike:
    import cv2

    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lightness, a, b = cv2.split(lab)
    lightness = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lightness)
    return cv2.cvtColor(cv2.merge((lightness, a, b)), cv2.COLOR_LAB2BGR)


def _neutral_colour(image: MatLike) -> MatLike:
    import numpy as np

    # Grey world, half strength: old prints fade towards yellow or magenta.
    means = image.reshape(-1, 3).mean(axis=0)
    gains = 1 + 0.5 * (means.mean() / np.maximum(means, 1) - 1)
    # float32 and in place: a float64 copy of a 2000 px photo alone is 72 MB.
    scaled = image.astype(np.float32)
    scaled *= gains.astype(np.float32)
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)


def _sharpen(image: MatLike) -> MatLike:
    import cv2

    blurred = cv2.GaussianBlur(image, (0, 0), 1.2)
    return cv2.addWeighted(image, 1.4, blurred, -0.4, 0)
