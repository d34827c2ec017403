"""Remote backends report trouble as `StorageUnavailable`, and only a missing object as
`StorageObjectMissing`: a wrong bucket or key is a configuration problem, not a lost photo."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from shared.storage.base import StorageObjectMissing, StorageObjectTooLarge, StorageUnavailable
from shared.storage.s3 import S3ObjectStore
from shared.storage.supabase import SupabaseObjectStore
from tests.fixtures.supabase_standin import SupabaseStandIn
from tests.storage.conftest import SERVICE_ROLE_KEY, new_bucket


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def s3_store_at(aws_environment: None) -> Iterator[Callable[[str, str], S3ObjectStore]]:
    made: list[S3ObjectStore] = []

    def make(endpoint: str, bucket: str) -> S3ObjectStore:
        # One attempt: the retries of the default client would only slow the test down.
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        made.append(S3ObjectStore(bucket, client=client))
        return made[-1]

    yield make
    for store in made:
        store.close()


def test_s3_missing_bucket_or_server_is_unavailable_not_missing(
    s3_store_at: Callable[[str, str], S3ObjectStore], moto_endpoint: str, closed_port_url: str
) -> None:
    no_bucket = s3_store_at(moto_endpoint, new_bucket())
    with pytest.raises(StorageUnavailable):
        no_bucket.read("a.jpg")
    with pytest.raises(StorageUnavailable):
        no_bucket.put("a.jpg", b"x", "image/jpeg")
    with pytest.raises(StorageUnavailable):
        no_bucket.list("a/")

    no_server = s3_store_at(closed_port_url, new_bucket())
    with pytest.raises(StorageUnavailable):
        no_server.stat("a.jpg")
    with pytest.raises(StorageUnavailable):
        no_server.delete(["a.jpg"])


def test_supabase_wrong_key_bucket_or_server_is_unavailable_not_missing(
    supabase_standin: tuple[SupabaseStandIn, str], closed_port_url: str
) -> None:
    stand_in, url = supabase_standin
    bucket = new_bucket()
    stand_in.create_bucket(bucket)
    stores = [
        SupabaseObjectStore(url, "not-the-key", bucket),
        SupabaseObjectStore(url, SERVICE_ROLE_KEY, new_bucket()),
        SupabaseObjectStore(closed_port_url, SERVICE_ROLE_KEY, bucket),
    ]
    try:
        for store in stores:
            with pytest.raises(StorageUnavailable):
                store.read("a.jpg")
            with pytest.raises(StorageUnavailable):
                store.stat("a.jpg")
            with pytest.raises(StorageUnavailable):
                store.put("a.jpg", b"x", "image/jpeg")
            with pytest.raises(StorageUnavailable):
                store.move("a.jpg", "b.jpg")
    finally:
        for store in stores:
            store.close()

    # With the right key and bucket, the same read is a missing object.
    good = SupabaseObjectStore(url, SERVICE_ROLE_KEY, bucket)
    try:
        with pytest.raises(StorageObjectMissing):
            good.read("a.jpg")
    finally:
        good.close()


def _every_operation(store: S3ObjectStore | SupabaseObjectStore) -> list[Callable[[], object]]:
    return [
        lambda: store.stat("uploads/a.jpg"),
        lambda: store.list("uploads/"),
        lambda: store.list(""),
        lambda: store.read("uploads/a.jpg"),
        lambda: store.put("uploads/a.jpg", b"x", "image/jpeg"),
        lambda: store.delete(["uploads/a.jpg"]),
        lambda: store.move("uploads/a.jpg", "uploads/b.jpg"),
        lambda: store.move("uploads/a.jpg", "uploads/a.jpg"),
        lambda: store.signed_download_url("uploads/a.jpg", 60),
        store.check_bucket,
    ]


def test_a_missing_bucket_is_reported_by_every_operation_of_every_remote_backend(
    s3_store_at: Callable[[str, str], S3ObjectStore],
    moto_endpoint: str,
    supabase_standin: tuple[SupabaseStandIn, str],
) -> None:
    # The real Supabase server lists a missing bucket as 200 [] and removes from it
    # silently; a HEAD on S3 answers a bare 404. None of that may read as "no photo".
    _, url = supabase_standin
    supabase = SupabaseObjectStore(url, SERVICE_ROLE_KEY, new_bucket())
    try:
        for store in (s3_store_at(moto_endpoint, new_bucket()), supabase):
            for operation in _every_operation(store):
                with pytest.raises(StorageUnavailable):
                    operation()
    finally:
        supabase.close()


def test_supabase_refuses_an_object_over_the_bucket_limit_as_too_large(
    supabase_standin: tuple[SupabaseStandIn, str],
) -> None:
    stand_in, url = supabase_standin
    bucket = new_bucket()
    stand_in.create_bucket(bucket, file_size_limit=1000)
    store = SupabaseObjectStore(url, SERVICE_ROLE_KEY, bucket)
    try:
        store.put("downloads/o/fits.zip", b"x" * 1000, "application/zip")
        with pytest.raises(StorageObjectTooLarge):
            store.put("downloads/o/big.zip", b"x" * 1001, "application/zip")
        with pytest.raises(StorageObjectTooLarge), store.writer("downloads/o/big.zip", "application/zip") as out:
            out.write(b"x" * 1001)
        assert [o.path for o in store.list("downloads/")] == ["downloads/o/fits.zip"]
    finally:
        store.close()


def test_the_health_check_and_the_monitor_report_a_missing_bucket(
    settings: object, supabase_standin: tuple[SupabaseStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from shared.core.config import get_settings
    from shared.deps import get_database, get_storage
    from shared.health import router
    from shared.jobs.monitoring import check_health

    stand_in, url = supabase_standin
    bucket = new_bucket()
    for name, value in {"STORAGE_BACKEND": "supabase", "STORAGE_BUCKET": bucket, "SUPABASE_URL": url,
                        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    try:
        missing = client.get("/api/health")
        assert missing.status_code == 503
        assert missing.json()["storage"] == {"reachable": False, "error": "storage_unavailable"}
        assert any("bucket" in alert for alert in check_health(get_database(), get_settings()).alerts)

        stand_in.create_bucket(bucket)
        there = client.get("/api/health")
        assert there.status_code == 200 and there.json()["storage"] == {"reachable": True}
    finally:
        get_storage().store.close()  # type: ignore[attr-defined]
        stand_in.buckets.pop(bucket, None)
