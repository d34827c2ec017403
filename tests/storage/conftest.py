"""Every storage backend, each against a real server over real HTTP:

- `local`: a folder in tmp_path, its `/local-storage/` routes served by uvicorn;
- `s3`: boto3 against a moto server;
- `supabase`: storage3 against the stand-in in `supabase_standin.py`.

Servers start once per session; each test gets its own bucket, so tests never see each
other's objects. Page sizes are tiny so that listing always crosses pages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.storage.base import ObjectStore, SignedUpload
from tests.fixtures.http_server import SwappableApp, serve
from tests.fixtures.supabase_standin import SupabaseStandIn

BACKENDS = ["local", "s3", "supabase"]
PAGE_SIZE = 2
SERVICE_ROLE_KEY = "stand-in-service-role-key"
SIGNING_SECRET = "storage-test-signing-secret"
# The contract's Supabase buckets are made with this file_size_limit (as migration 015
# makes the shop's with 25 MB), small enough for a test to pass it.
SUPABASE_BUCKET_LIMIT = 1024 * 1024
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Backend:
    """One backend under test, with what the contract needs to know about its server."""

    name: str
    store: ObjectStore
    # Backdate an object, as if it had been written at `moment`.
    set_updated_at: Callable[[str, datetime], None]
    # moto does not refuse expired presigned URLs (S3 does); for it the test checks the
    # expiry the URL carries instead.
    refuses_expired_urls: bool = True
    # moto does not enforce a POST policy's conditions (S3 does): for it the test reads
    # the conditions the signed policy carries instead.
    enforces_upload_policy: bool = True
    # An S3 POST policy cannot refuse to overwrite (conditional writes are PUT-only).
    refuses_overwrite_by_url: bool = True
    # Supabase tokens carry no size: its cap is the bucket's file_size_limit.
    bucket_size_limit: int | None = None


@pytest.fixture(scope="session")
def aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials, and no profile or config from the machine running the tests."""
    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_environment: None) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 and a free port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def supabase_standin() -> Iterator[tuple[SupabaseStandIn, str]]:
    """The Supabase Storage stand-in and its base URL (what SUPABASE_URL would be)."""
    stand_in = SupabaseStandIn(SERVICE_ROLE_KEY)
    with serve(stand_in.app) as url:
        yield stand_in, url


@pytest.fixture(scope="session")
def local_storage_server() -> Iterator[tuple[SwappableApp, str]]:
    """A server for the local backend's signed-URL routes; each test mounts its own store."""
    app = SwappableApp()
    with serve(app) as url:
        yield app, url


def new_bucket() -> str:
    return f"photos-{uuid.uuid4().hex[:12]}"


def moto_set_updated_at(bucket: str) -> Callable[[str, datetime], None]:
    def backdate(path: str, moment: datetime) -> None:
        # moto runs in this process: reach into its model, since S3 has no API for this.
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        key = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[bucket].keys[path]
        key.last_modified = moment.astimezone(UTC).replace(tzinfo=None)

    return backdate


def make_local(tmp_path: Path, server: tuple[SwappableApp, str]) -> Iterator[Backend]:
    from fastapi import FastAPI

    from shared.storage.local import LocalObjectStore
    from shared.storage.local_routes import local_storage_router

    app, url = server
    store = LocalObjectStore(tmp_path / "storage", new_bucket(), SIGNING_SECRET, url)
    routes = FastAPI(openapi_url=None)
    routes.include_router(local_storage_router(store, max_upload_bytes=10 * 1024 * 1024))
    app.app = routes

    def backdate(path: str, moment: datetime) -> None:
        os.utime(store.file(path), (moment.timestamp(), moment.timestamp()))

    try:
        yield Backend("local", store, backdate)
    finally:
        app.app = None


def make_s3(endpoint: str) -> Iterator[Backend]:
    from shared.storage.s3 import S3ObjectStore

    bucket = new_bucket()
    store = S3ObjectStore(bucket, endpoint_url=endpoint, region="us-east-1", page_size=PAGE_SIZE)
    store.client.create_bucket(Bucket=bucket)
    try:
        yield Backend(
            "s3", store, moto_set_updated_at(bucket),
            refuses_expired_urls=False, enforces_upload_policy=False, refuses_overwrite_by_url=False,
        )  # fmt: skip
    finally:
        store.close()


def make_supabase(server: tuple[SupabaseStandIn, str]) -> Iterator[Backend]:
    from shared.storage.supabase import SupabaseObjectStore

    stand_in, url = server
    bucket = new_bucket()
    stand_in.create_bucket(bucket, file_size_limit=SUPABASE_BUCKET_LIMIT)
    store = SupabaseObjectStore(url, SERVICE_ROLE_KEY, bucket, page_size=PAGE_SIZE)

    def backdate(path: str, moment: datetime) -> None:
        stand_in.set_updated_at(bucket, path, moment)

    try:
        yield Backend("supabase", store, backdate, bucket_size_limit=SUPABASE_BUCKET_LIMIT)
    finally:
        store.close()
        stand_in.buckets.pop(bucket, None)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each backend in turn, over a fresh, empty bucket."""
    made: Iterator[Backend]
    if request.param == "local":
        made = make_local(tmp_path, request.getfixturevalue("local_storage_server"))
    elif request.param == "s3":
        made = make_s3(request.getfixturevalue("moto_endpoint"))
    else:
        made = make_supabase(request.getfixturevalue("supabase_standin"))
    yield from made


@pytest.fixture
def object_store(backend: Backend) -> ObjectStore:
    """The `ObjectStore` of the backend under test."""
    return backend.store


def download_filename(content_disposition: str) -> str | None:
    """The filename a browser would save an attachment as (RFC 6266, either form)."""
    from urllib.parse import unquote

    params: dict[str, Any] = {}
    for part in content_disposition.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        params[name.lower()] = value.strip('"')
    if "filename*" in params:
        charset, _, rest = params["filename*"].partition("'")
        return unquote(rest.partition("'")[2], encoding=charset or "utf-8")
    return params.get("filename")


def send_signed_upload(upload: SignedUpload, data: bytes) -> httpx.Response:
    """What a browser does with a signed upload: PUT the bytes, or POST the policy form."""
    return send_to_upload_url(upload.method, upload.url, upload.headers, upload.fields, data)


def send_announced(announced: dict[str, Any], data: bytes) -> httpx.Response:
    """The same, from the upload function's answer to an announcement."""
    return send_to_upload_url(
        announced["upload_method"], announced["upload_url"], announced["upload_headers"],
        announced["upload_fields"], data,
    )  # fmt: skip


def send_to_upload_url(
    method: str, url: str, headers: dict[str, str], fields: dict[str, str], data: bytes
) -> httpx.Response:
    if method == "POST":
        return httpx.post(url, data=fields, files={"file": ("photo", data)})
    return httpx.request(method, url, content=data, headers=headers)
