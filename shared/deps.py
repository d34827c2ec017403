"""The per-container resources a function needs, made on first use and reused after.

Each is tied to the Settings object it was made from: in Lambda that object lives as long
as the container; tests that change settings get fresh resources.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from shared.core import db
from shared.core.config import Settings, get_settings

if TYPE_CHECKING:
    from shared.payments import PaymentsProvider
    from shared.restoration import AnyRestorationProvider
    from shared.storage import StorageService

T = TypeVar("T")
_made: dict[str, tuple[Settings, Any]] = {}
_lock = threading.Lock()


def _per_settings(kind: str, make: Callable[[Settings], T]) -> T:
    settings = get_settings()
    with _lock:
        held = _made.get(kind)
        if held is None or held[0] is not settings:
            if held is not None and hasattr(held[1], "close"):
                held[1].close()  # made for settings no longer in force (tests): free its connections
            held = (settings, make(settings))
            _made[kind] = held
        return held[1]


def get_database() -> db.Database:
    return db.get_database()


def get_storage() -> StorageService:
    from shared.storage import storage_from_settings

    return _per_settings("storage", storage_from_settings)


def get_payments() -> PaymentsProvider:
    from shared.payments import payments_from_settings

    return _per_settings("payments", payments_from_settings)


def get_restoration() -> AnyRestorationProvider:
    """Kept per container: a remote provider caches its webhook signing secret."""
    from shared.restoration import restoration_from_settings

    return _per_settings("restoration", restoration_from_settings)
