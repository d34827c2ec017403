"""A local stand-in of Replicate's HTTP API, for the Replicate provider's tests.

It answers what the official `replicate` package asks (create a prediction for a model
version or an official model, read one, read the default webhook signing secret), checks
the bearer token and the fields Replicate requires, and, when a test says a prediction
is finished, fetches the photo from the URL it was given, "restores" it, serves the result
as PNG and posts the prediction to its webhook, signed as Replicate signs (Standard Webhooks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageOps


def sign(secret_key: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature` for a body: HMAC-SHA256 of `id.timestamp.body` under the key after `whsec_`."""
    key = base64.b64decode(secret_key.split("_", 1)[1])
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


WEBHOOK_EVENTS = {"start", "output", "logs", "completed"}


@dataclass
class ReplicateStandIn:
    token: str = "r8_standin_token"
    secret_key: str = field(default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    base_url: str = ""
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, bytes] = field(default_factory=dict)
    create_failures: list[int] = field(default_factory=list)  # statuses to answer the next creates with
    secret_reads: int = 0
    _ids: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the API ------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def bearer_only(request: Request, call_next: Any) -> Any:
            if request.url.path.startswith("/v1/") and request.headers.get("authorization") != f"Bearer {self.token}":
                return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
            return await call_next(request)

        @app.post("/v1/predictions")
        async def create_for_version(request: Request) -> Response:
            body = await request.json()
            if not isinstance(body.get("version"), str) or not body["version"]:
                return _problem(422, "Invalid version", "version is required")
            return self._create(body, model="standin/model", version=body["version"])

        @app.post("/v1/models/{owner}/{name}/predictions")
        async def create_for_model(owner: str, name: str, request: Request) -> Response:
            return self._create(await request.json(), model=f"{owner}/{name}", version="official")

        @app.get("/v1/predictions/{prediction_id}")
        def read(prediction_id: str) -> Response:
            if prediction_id not in self.predictions:
                return _problem(404, "Not found", "no such prediction")
            return JSONResponse(self.predictions[prediction_id])

        @app.get("/v1/webhooks/default/secret")
        def webhook_secret() -> dict[str, str]:
            self.secret_reads += 1
            return {"key": self.secret_key}

        @app.get("/output/{prediction_id}.png")
        def output(prediction_id: str) -> Response:
            return Response(self.outputs[prediction_id], media_type="image/png")

        return app

    def _create(self, body: dict[str, Any], *, model: str, version: str) -> Response:
        if self.create_failures:
            status = self.create_failures.pop(0)
            return _problem(status, "Refused", f"stand-in told to answer {status}")
        problems = [
            name
            for name, ok in (
                ("input", isinstance(body.get("input"), dict) and body["input"]),
                ("webhook", isinstance(body.get("webhook"), str) and body["webhook"].startswith("http")),
                ("webhook_events_filter", set(body.get("webhook_events_filter", ["start"])) <= WEBHOOK_EVENTS),
            )
            if not ok
        ]  # fmt: skip
        if problems:
            return _problem(422, "Invalid input", f"invalid: {', '.join(problems)}")
        with self._lock:
            prediction_id = f"p{next(self._ids):04d}{secrets.token_hex(4)}"
        prediction = {
            "id": prediction_id, "model": model, "version": version, "status": "starting",
            "input": body["input"], "output": None, "logs": "", "error": None, "metrics": {},
            "created_at": _now(), "started_at": None, "completed_at": None,
            "urls": {"get": f"{self.base_url}/v1/predictions/{prediction_id}",
                     "cancel": f"{self.base_url}/v1/predictions/{prediction_id}/cancel"},
            "webhook": body["webhook"], "webhook_events_filter": body.get("webhook_events_filter"),
        }  # fmt: skip
        self.predictions[prediction_id] = prediction
        return JSONResponse({k: v for k, v in prediction.items() if not k.startswith("webhook")}, status_code=201)

    # -- what a test does with it -------------------------------------------------------

    def finish(self, prediction_id: str, *, succeed: bool = True) -> dict[str, Any]:
        """Run the prediction: fetch its photo, make the output (or fail), mark it finished."""
        prediction = self.predictions[prediction_id]
        if succeed:
            [photo_url] = prediction["input"].values()
            fetched = httpx.get(photo_url, timeout=10)
            fetched.raise_for_status()
            with Image.open(io.BytesIO(fetched.content)) as original:
                restored = ImageOps.autocontrast(original.convert("RGB"))
                out = io.BytesIO()
                restored.save(out, "PNG")
            self.outputs[prediction_id] = out.getvalue()
            prediction.update(status="succeeded", output=f"{self.base_url}/output/{prediction_id}.png")
        else:
            prediction.update(status="failed", error="CUDA out of memory")
        prediction.update(started_at=_now(), completed_at=_now(), logs="done")
        return prediction

    def callback(
        self, prediction_id: str, *, secret_key: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The webhook delivery Replicate would make for the prediction as it stands now."""
        body = json.dumps(
            {k: v for k, v in self.predictions[prediction_id].items() if not k.startswith("webhook")}
        ).encode()
        webhook_id = f"msg_{secrets.token_hex(8)}"
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret_key or self.secret_key, webhook_id, timestamp, body),
        }
        return body, headers

    def deliver(self, prediction_id: str, **signing: Any) -> httpx.Response:
        body, headers = self.callback(prediction_id, **signing)
        return httpx.post(self.predictions[prediction_id]["webhook"], content=body, headers=headers, timeout=30)


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail}, status_code=status)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
