"""Domain errors. Each carries the HTTP status and machine-readable code it maps to, so
one exception handler per app renders every error as {"error": {"code", "message"}}."""

from __future__ import annotations

from typing import Any, ClassVar


class RestoreClickError(Exception):
    """Base of every error the shop raises on purpose."""

    status_code: ClassVar[int] = 500
    # Each class names its code; an instance may carry a more specific one (`code=`).
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        # Response headers the error needs (Retry-After on a 429 or 503); none by default.
        self.headers: dict[str, str] = {}

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ConfigurationError(RestoreClickError):
    """A setting the code path needs is missing or invalid."""

    code = "configuration_error"


class BadRequest(RestoreClickError):
    status_code = 400
    code = "bad_request"


class Unauthorized(RestoreClickError):
    status_code = 401
    code = "unauthorized"


class NotFound(RestoreClickError):
    status_code = 404
    code = "not_found"


class Conflict(RestoreClickError):
    status_code = 409
    code = "conflict"


class Gone(RestoreClickError):
    status_code = 410
    code = "gone"


class PayloadTooLarge(RestoreClickError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(RestoreClickError):
    status_code = 415
    code = "unsupported_media_type"


class ValidationFailed(RestoreClickError):
    status_code = 422
    code = "validation_failed"


class TooManyRequests(RestoreClickError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.retry_after = max(1, retry_after)
        self.headers = {"retry-after": str(self.retry_after)}


class ServiceUnavailable(RestoreClickError):
    """A dependency (database, storage, provider) failed; the caller may retry."""

    status_code = 503
    code = "service_unavailable"


class NoResult(RestoreClickError):
    """A query that must return one row returned none."""

    status_code = 404
    code = "not_found"
