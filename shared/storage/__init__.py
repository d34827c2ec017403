"""Photo storage: `StorageService` (the shop's operations) over one `ObjectStore` backend,
chosen by STORAGE_BACKEND: `local` (a folder), `s3` (boto3) or `supabase` (storage3).

Backends are imported only when chosen: boto3 and storage3 are heavy, and a function that
never touches them should not pay for their import.
"""

from __future__ import annotations

from shared.core.config import Settings
from shared.storage.base import (
    ObjectStore,
    SignedUpload,
    StorageObjectMissing,
    StorageObjectTooLarge,
    StorageUnavailable,
    StoredObject,
)
from shared.storage.service import ArchiveEntry, StorageService, unique_names


def storage_from_settings(settings: Settings) -> StorageService:
    backend = settings.effective_storage_backend
    if backend == "s3":
        from shared.storage.s3 import S3ObjectStore

        store: ObjectStore = S3ObjectStore(
            settings.storage_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
        )
    elif backend == "supabase":
        from shared.storage.supabase import SupabaseObjectStore

        store = SupabaseObjectStore(
            settings.require("supabase_url"),
            settings.require("supabase_service_role_key"),
            settings.storage_bucket,
        )
    else:
        from shared.storage.local import LocalObjectStore

        store = LocalObjectStore(
            settings.storage_dir,
            settings.storage_bucket,
            settings.storage_signing_secret.get_secret_value(),
            settings.public_base_url,
        )
    return StorageService(store)


# What other folders use: the service, the bucket's layout (`layout`: where each object lives,
# computed without I/O), the backend interface and its errors, the factory, and the local
# backend with its signed-URL routes (for the dev server and tests only).
__all__ = [
    "ArchiveEntry",
    "ObjectStore",
    "SignedUpload",
    "StorageObjectMissing",
    "StorageObjectTooLarge",
    "StorageService",
    "StorageUnavailable",
    "StoredObject",
    "layout",
    "local",
    "local_routes",
    "storage_from_settings",
    "unique_names",
]
