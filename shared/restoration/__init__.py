"""Photo restoration: a provider turns an original photo's bytes into restored bytes.

RESTORATION_PROVIDER chooses `local` (the embedded default: a classical pipeline with
OpenCV, kept out of the Lambda package) or `replicate` (a hosted model).
"""

from __future__ import annotations

from typing import Protocol

from shared.config import Settings


class RestorationProvider(Protocol):
    name: str

    def restore(self, photo: bytes) -> bytes:
        """The restored photo as JPEG bytes; TerminalJobError if the photo cannot be read."""
        ...


def restoration_from_settings(settings: Settings) -> RestorationProvider:
    if settings.effective_restoration_provider == "replicate":
        from shared.restoration.replicate_provider import ReplicateRestoration

        return ReplicateRestoration(settings.require("replicate_api_token"), settings.replicate_model)
    from shared.restoration.local import LocalRestoration

    return LocalRestoration()
