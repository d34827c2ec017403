"""Restoration by a model hosted on Replicate, through the official `replicate` package.

A prediction is created with a webhook, so the worker hands the job over and moves on;
Replicate posts the finished prediction to `POST /api/webhooks/replicate`, signed the
Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_args

import httpx

from shared.core.config import Settings
from shared.core.errors import BadRequest, ConfigurationError, ServiceUnavailable
from shared.jobs.queue import TerminalJobError
from shared.restoration.base import Prediction, PredictionStatus, RemoteRestorationProvider

# A restored photo is a few MB; anything far larger is not what we asked for.
MAX_OUTPUT_BYTES = 60 * 1024 * 1024


class RestorationUnavailable(ServiceUnavailable):
    code = "restoration_unavailable"


class ReplicateRestoration(RemoteRestorationProvider):
    name = "replicate"

    def __init__(
        self,
        api_token: str,
        model: str,
        *,
        image_input: str = "img",
        api_base: str | None = None,
        webhook_secret: str | None = None,
        webhook_tolerance_seconds: int = 300,
    ) -> None:
        from replicate.client import Client

        # Our own transport, so the connections can be closed (the package's client has no close).
        self._transport = httpx.HTTPTransport()
        self.client = Client(api_token=api_token, base_url=api_base, transport=self._transport)
        self.model, _, self.version = model.partition(":")
        self.image_input = image_input
        self.webhook_tolerance_seconds = webhook_tolerance_seconds
        self._webhook_secret = webhook_secret
        self._secret_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicateRestoration:
        secret = settings.replicate_webhook_secret
        return cls(
            settings.require("replicate_api_token"),
            settings.replicate_model,
            image_input=settings.replicate_image_input,
            api_base=settings.replicate_api_base,
            webhook_secret=secret.get_secret_value() if secret else None,
            webhook_tolerance_seconds=settings.replicate_webhook_tolerance_seconds,
        )

    def close(self) -> None:
        self._transport.close()

    def start(self, photo_url: str, webhook_url: str) -> Prediction:
        params: dict[str, Any] = {
            "input": {self.image_input: photo_url},
            "webhook": webhook_url,
            # One call when it is over, whatever the outcome; progress calls would only cost invocations.
            "webhook_events_filter": ["completed"],
        }
        with _translated("create a prediction"):
            if self.version:
                prediction = self.client.predictions.create(version=self.version, **params)
            else:
                prediction = self.client.predictions.create(model=self.model, **params)
        return _prediction(prediction.id, prediction.status, prediction.output, prediction.error)

    def fetch(self, prediction_id: str) -> Prediction:
        with _translated("read a prediction"):
            prediction = self.client.predictions.get(prediction_id)
        return _prediction(prediction.id, prediction.status, prediction.output, prediction.error)

    def download(self, output_url: str) -> bytes:
        try:
            with httpx.stream("GET", output_url, timeout=60, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise RestorationUnavailable(f"the restored photo could not be fetched ({response.status_code})")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        raise TerminalJobError("the provider's output is larger than any restored photo")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise RestorationUnavailable(f"the restored photo could not be fetched: {exc}") from exc
        return b"".join(chunks)

    def verify_callback(self, headers: dict[str, str], body: bytes) -> Prediction:
        from replicate.webhook import InvalidSecretKeyError, Webhooks, WebhookSigningSecret, WebhookValidationError

        try:
            # The package checks the timestamp in both directions (absolute difference).
            Webhooks.validate(
                headers=headers,
                body=body.decode("utf-8"),
                secret=WebhookSigningSecret(key=self._signing_secret()),
                tolerance=self.webhook_tolerance_seconds,
            )
        except InvalidSecretKeyError:
            # Our configuration, not the caller's fault; the package's message holds the secret itself.
            raise ConfigurationError("REPLICATE_WEBHOOK_SECRET is not a `whsec_…` signing secret") from None
        except (WebhookValidationError, UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(
                f"the Replicate webhook signature is not valid: {str(exc) or type(exc).__name__}", code="bad_signature"
            ) from None
        try:
            payload = json.loads(body)
            return _prediction(payload["id"], payload["status"], payload.get("output"), payload.get("error"))
        except (ValueError, KeyError, TypeError):
            raise BadRequest("the payload is not a Replicate prediction", code="malformed_payload") from None

    def _signing_secret(self) -> str:
        # Fetched once per container when not configured: Replicate has one secret per account.
        with self._secret_lock:
            if self._webhook_secret is None:
                with _translated("read the webhook signing secret"):
                    self._webhook_secret = self.client.webhooks.default.secret().key
            return self._webhook_secret


def _prediction(prediction_id: Any, status: Any, output: Any, error: Any) -> Prediction:
    if not isinstance(prediction_id, str) or status not in get_args(PredictionStatus):
        raise ValueError("not a prediction")
    # Models answer one URL or a list of them; the restored photo is the first (or only) one.
    if isinstance(output, list):
        output = output[0] if output else None
    output_url = output if isinstance(output, str) else None
    return Prediction(prediction_id, status, output_url, str(error) if error else None)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Replicate's errors as the queue understands them: refused input is terminal, the rest retryable."""
    from replicate.exceptions import ReplicateError

    try:
        yield
    except ReplicateError as exc:
        status = exc.status or 0
        if 400 <= status < 500 and status not in (408, 409, 429):
            raise TerminalJobError(f"Replicate refused to {action} ({status}): {exc.detail or exc.title}") from exc
        raise RestorationUnavailable(f"Replicate could not {action} ({status})") from exc
    except httpx.HTTPError as exc:
        raise RestorationUnavailable(f"Replicate is unreachable ({action}): {exc}") from exc
