"""Photo restoration: a provider turns an original photo into a restored one.

RESTORATION_PROVIDER chooses `local` (the embedded default: a classical pipeline with
OpenCV, kept out of the Lambda package) or `replicate` (a hosted model). A local provider
restores inside the worker's run; a remote one is handed the photo's URL, works on its
own, and calls back (`POST /api/webhooks/replicate`), so no Lambda sits waiting on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from shared.core.config import Settings

# Restored photos are delivered as JPEG at this quality, whoever restored them.
JPEG_QUALITY = 92
# A model may upscale (GFPGAN: 2x a side by default), so a restored photo may have this
# many times the pixels of the largest photo we accept; decoding one is bounded by that.
RESTORED_PIXEL_FACTOR = 4
PredictionStatus = Literal["starting", "processing", "succeeded", "failed", "canceled"]
FINISHED_PREDICTION = ("succeeded", "failed", "canceled")


class RestorationProvider(Protocol):
    name: str

    def restore(self, photo: bytes) -> bytes:
        """The restored photo as JPEG bytes; TerminalJobError if the photo cannot be read."""
        ...


@dataclass(frozen=True)
class Prediction:
    """A remote provider's view of one restoration it was asked for."""

    id: str
    status: PredictionStatus
    output_url: str | None = None
    error: str | None = None


class RemoteRestorationProvider(Protocol):
    name: str

    def start(self, photo_url: str, webhook_url: str) -> Prediction:
        """Ask for a restoration of the photo at `photo_url`; the result is posted to `webhook_url`."""
        ...

    def fetch(self, prediction_id: str) -> Prediction:
        """The prediction as the provider sees it now (the poll fallback)."""
        ...

    def download(self, output_url: str) -> bytes:
        """The restored photo's bytes from the provider's output URL."""
        ...

    def verify_callback(self, headers: dict[str, str], body: bytes) -> Prediction:
        """The prediction a signed callback carries; BadRequest if the signature is not good or not fresh."""
        ...


def restoration_from_settings(settings: Settings) -> RestorationProvider | RemoteRestorationProvider:
    if settings.effective_restoration_provider == "replicate":
        from shared.restoration.replicate_provider import ReplicateRestoration

        return ReplicateRestoration.from_settings(settings)
    from shared.restoration.local import LocalRestoration

    return LocalRestoration(max_pixels=settings.upload_max_pixels)


def is_remote(provider: RestorationProvider | RemoteRestorationProvider) -> bool:
    return hasattr(provider, "start")


# What other folders use: the two provider shapes, the factory, and the two jobs: restoring a
# photo (`worker`) and settling a remote prediction (`predictions`).
__all__ = [
    "FINISHED_PREDICTION",
    "JPEG_QUALITY",
    "RESTORED_PIXEL_FACTOR",
    "Prediction",
    "PredictionStatus",
    "RemoteRestorationProvider",
    "RestorationProvider",
    "is_remote",
    "predictions",
    "restoration_from_settings",
    "worker",
]
