"""Photo restoration: a provider turns an original photo into a restored one.

RESTORATION_PROVIDER chooses `local` (the embedded default: a classical pipeline with
OpenCV, kept out of the Lambda package) or `replicate` (a hosted model). A local provider
restores inside the worker's run; a remote one is handed the photo's URL, works on its
own, and calls back (`POST /api/webhooks/replicate`), so no Lambda sits waiting on it.
"""

from __future__ import annotations

from shared.core.config import Settings
from shared.restoration.base import (
    FINISHED_PREDICTION,
    JPEG_QUALITY,
    RESTORED_PIXEL_FACTOR,
    AnyRestorationProvider,
    Prediction,
    PredictionStatus,
    RemoteRestorationProvider,
    RestorationProvider,
)


def restoration_from_settings(settings: Settings) -> AnyRestorationProvider:
    if settings.effective_restoration_provider == "replicate":
        from shared.restoration.replicate_provider import ReplicateRestoration

        return ReplicateRestoration.from_settings(settings)
    from shared.restoration.local import LocalRestoration

    return LocalRestoration(max_pixels=settings.upload_max_pixels)


# What other folders use: the two provider shapes (and the union the factory returns), the
# factory, and the two jobs: restoring a photo (`worker`) and settling a remote prediction
# (`predictions`).
__all__ = [
    "FINISHED_PREDICTION",
    "JPEG_QUALITY",
    "RESTORED_PIXEL_FACTOR",
    "AnyRestorationProvider",
    "Prediction",
    "PredictionStatus",
    "RemoteRestorationProvider",
    "RestorationProvider",
    "predictions",
    "restoration_from_settings",
    "worker",
]
