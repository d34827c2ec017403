"""The two shapes a restoration provider comes in, and what both deliver.

A provider is one shape or the other, never both: the call sites (the restoration worker,
the poll of awaited predictions, the Replicate webhook) tell them apart by type, with
`isinstance(provider, RemoteRestorationProvider)`, and mypy checks each branch. The
shapes live apart from the factory in `__init__`, so the providers that implement them
import this module and the factory imports them, with no cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

# Restored photos are delivered as JPEG at this quality, whoever restored them.
JPEG_QUALITY = 92
# A model may upscale (GFPGAN: 2x a side by default), so a restored photo may have this
# many times the pixels of the largest photo we accept; decoding one is bounded by that.
RESTORED_PIXEL_FACTOR = 4
PredictionStatus = Literal["starting", "processing", "succeeded", "failed", "canceled"]
FINISHED_PREDICTION = ("succeeded", "failed", "canceled")


class RestorationProvider(ABC):
    """Restores inside the worker's run: the photo's bytes in, the restored bytes out."""

    name: str

    @abstractmethod
    def restore(self, photo: bytes) -> bytes:
        """The restored photo as JPEG bytes; TerminalJobError if the photo cannot be read."""


@dataclass(frozen=True)
class Prediction:
    """A remote provider's view of one restoration it was asked for."""

    id: str
    status: PredictionStatus
    output_url: str | None = None
    error: str | None = None


class RemoteRestorationProvider(ABC):
    """Restores on its own: it is handed the photo's URL, and calls back when it is done."""

    name: str

    @abstractmethod
    def start(self, photo_url: str, webhook_url: str) -> Prediction:
        """Ask for a restoration of the photo at `photo_url`; the result is posted to `webhook_url`."""

    @abstractmethod
    def fetch(self, prediction_id: str) -> Prediction:
        """The prediction as the provider sees it now (the poll fallback)."""

    @abstractmethod
    def download(self, output_url: str) -> bytes:
        """The restored photo's bytes from the provider's output URL."""

    @abstractmethod
    def verify_callback(self, headers: dict[str, str], body: bytes) -> Prediction:
        """The prediction a signed callback carries; BadRequest if the signature is not good or not fresh."""


# What the factory returns and the worker takes: either shape.
AnyRestorationProvider = RestorationProvider | RemoteRestorationProvider
