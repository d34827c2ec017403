"""One Settings object for every function, worker and command.

Explicit arguments beat the environment, the environment beats defaults. A setting that
a code path needs and that is missing fails with its name (`Settings.require`). Outside
local mode, the fixed local secrets are refused, so a deploy cannot run on them. In
production no provider falls back to a local stand-in (a folder for storage, the email
outbox, the local payment page, OpenCV): whatever the deploy pins, a provider whose keys
are missing fails naming every missing variable, and a stand-in named outright is refused.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.core.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Fixed secrets that make `restoreclick dev` work with no set-up. They are public (they
# are in this file), so production refuses them.
LOCAL_WEBHOOK_SECRET = "whsec_local_restoreclick_development_only"
LOCAL_SIGNING_SECRET = "local-signing-secret-development-only"
LOCAL_WORKER_SECRET = "local-worker-secret-development-only"
LOCAL_SECRETS = frozenset({LOCAL_WEBHOOK_SECRET, LOCAL_SIGNING_SECRET, LOCAL_WORKER_SECRET})
LOCAL_SENDER_DOMAIN = "@restoreclick.local>"
# The development stand-ins production refuses: setting -> the value that names one.
LOCAL_STAND_INS = {
    "storage_backend": "local",
    "payments_provider": "local",
    "restoration_provider": "local",
    "email_provider": "outbox",
}


# Lambda refuses a synchronous invocation payload over 6 MB, exactly 6,291,456 bytes ("Request
# must be smaller than 6291456 bytes for the InvokeFunction operation"). API Gateway's HTTP
# API sends a binary body base64-encoded (4 bytes for every 3, rounded up) inside a JSON
# event that also carries the request line and headers (at most 10,240 bytes at the
# gateway, more once JSON-escaped) and the request context: a 32 KiB allowance covers them.
LAMBDA_PAYLOAD_MAX_BYTES = 6_291_456
LAMBDA_EVENT_ENVELOPE_BYTES = 32 * 1024
# The largest body whose base64 form, with the envelope, fits: 4,694,016 bytes.
LAMBDA_REQUEST_BODY_MAX_BYTES = (LAMBDA_PAYLOAD_MAX_BYTES - LAMBDA_EVENT_ENVELOPE_BYTES) // 4 * 3
# What a multipart request adds around one photo (boundaries, part headers, the session
# id field): a photo of UPLOAD_REQUEST_MAX_BYTES must still fit the body limit with it.
MULTIPART_ALLOWANCE_BYTES = 16 * 1024


class Settings(BaseSettings):
    """Configuration read from the environment (and a `.env` file when present)."""

    # An empty variable counts as unset: a deploy passes `${env:NAME, ''}` for every one it may
    # not have, and the default (or the error naming a missing setting) must still apply.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    app_env: Literal["local", "test", "production"] = "local"

    # Databases. Empty DATABASE_URL means: start the embedded PostgreSQL (local only).
    database_url: str | None = None
    production_database_url: str | None = None
    db_connect_timeout_seconds: int = 5
    db_statement_timeout_ms: int = 15_000
    db_lock_timeout_ms: int = 5_000
    migrations_dir: Path = PROJECT_ROOT / "supabase" / "migrations"
    local_data_dir: Path = PROJECT_ROOT / ".restoreclick"
    # Port of the embedded PostgreSQL that `restoreclick dev` starts when DATABASE_URL is unset.
    local_db_port: int = 54380

    # Public address of the functions, used to build links and redirect URLs.
    public_base_url: str = "http://127.0.0.1:8000"
    # Unset: the dev server's own origins, except in production, where no origin is allowed
    # until ALLOWED_ORIGINS names the shop's site (as the HTTP API's CORS does).
    allowed_origins: str | None = None

    # Storage.
    storage_backend: Literal["local", "supabase", "s3"] | None = None
    storage_bucket: str = "photos"
    local_storage_dir: Path | None = None
    storage_signing_secret: SecretStr = SecretStr(LOCAL_SIGNING_SECRET)
    supabase_url: str | None = None
    supabase_service_role_key: SecretStr | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # The largest object storage takes: an order's ZIP is split to fit. The default is the
    # `photos` bucket's file_size_limit (migration 015, 25 MB); Supabase projects allow
    # 50 MB unless configured, and a bucket's own limit applies when lower.
    storage_max_object_bytes: int = Field(25 * 1024 * 1024, ge=64 * 1024)

    # Uploads and pricing.
    upload_max_bytes: int = Field(25 * 1024 * 1024, gt=0)
    # A photo sent inside a request (multipart) must fit a Lambda request, whose body
    # arrives base64-encoded inside the 6 MB invocation payload: LAMBDA_REQUEST_BODY_MAX_BYTES
    # (about 4.47 MiB) a request, 4 MiB a photo by default. Larger photos go straight to
    # storage.
    upload_request_max_bytes: int = Field(4 * 1024 * 1024, gt=0)
    upload_request_body_max_bytes: int = Field(LAMBDA_REQUEST_BODY_MAX_BYTES, gt=0)
    upload_max_files: int = Field(50, gt=0)
    upload_max_pixels: int = Field(80_000_000, gt=0)
    # The pixels one multipart request may carry together, counted from the headers
    # before any decode: decoding is what a request costs, not its bytes.
    upload_request_max_pixels: int = Field(120_000_000, gt=0)
    upload_session_ttl_hours: int = Field(48, gt=0)
    # How long a direct upload's signed URL should work, where the backend lets us choose
    # (a Supabase server sets its own; the answer says when each URL ends).
    direct_upload_url_seconds: int = Field(15 * 60, ge=1, le=7 * 24 * 3600)
    # Uploads and direct-upload announcements a client address, and an upload session, may
    # make per window (0: no limit). A session holds at most UPLOAD_MAX_FILES photos, so
    # its limit leaves room for retries; an address may be a whole office behind one NAT.
    upload_throttle_per_address: int = Field(300, ge=0)
    upload_throttle_per_session: int = Field(100, ge=0)
    upload_throttle_window_seconds: int = Field(60, ge=1, le=3600)
    # Download-link resends asked for, per email address and per client address (0: no limit).
    resend_throttle_per_email: int = Field(5, ge=0)
    resend_throttle_per_address: int = Field(30, ge=0)
    resend_throttle_window_seconds: int = Field(3600, ge=1, le=86400)
    price_per_photo: int = Field(999, ge=0)
    currency: str = Field("usd", pattern=r"^[a-z]{3}$")
    # Stripe wants 30 min to 24 h from when it receives the request: keep a margin.
    checkout_expiry_minutes: int = Field(60, ge=35, le=1380)
    # Where Stripe sends the customer back. {CHECKOUT_SESSION_ID} is filled in by Stripe;
    # {UPLOAD_SESSION_ID} by us. Default: the shop's page on PUBLIC_BASE_URL.
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None

    # Payments.
    payments_provider: Literal["stripe", "local"] | None = None
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr = SecretStr(LOCAL_WEBHOOK_SECRET)
    stripe_webhook_tolerance_seconds: int = 300
    stripe_api_base: str | None = None
    # Per attempt; the SDK tries up to three times, so a checkout answers within ~3× this.
    stripe_timeout_seconds: float = Field(8.0, gt=0, le=60)

    # Restoration, email, workers.
    restoration_provider: Literal["replicate", "local"] | None = None
    replicate_api_token: SecretStr | None = None
    # `owner/name:version` (any model version) or `owner/name` (an official model's latest).
    replicate_model: str = "tencentarc/gfpgan"
    # The model's input that takes the photo (GFPGAN: `img`; CodeFormer: `image`).
    replicate_image_input: str = "img"
    replicate_api_base: str | None = None
    # Replicate's webhook signing secret (`whsec_…`); fetched from its API when unset.
    replicate_webhook_secret: SecretStr | None = None
    replicate_webhook_tolerance_seconds: int = Field(300, gt=0)
    # A prediction holds its job this long; past it the job is swept and tried again.
    replicate_prediction_lease_seconds: int = Field(1800, ge=60)
    # Predictions whose webhook has not come after this long are asked for by the poll fallback.
    replicate_poll_after_seconds: int = Field(120, ge=0)
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_base: str | None = None
    email_provider: Literal["sendgrid", "smtp", "outbox"] | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    outbox_dir_setting: Path | None = Field(None, alias="outbox_dir")
    # Restored photos are attached to the completion email while their total stays under this.
    email_attachment_cap_bytes: int = Field(8 * 1024 * 1024, ge=0)
    email_from: str = "RestoreClick <orders@restoreclick.local>"
    # Name of the workers Lambda, invoked asynchronously when work was just queued.
    workers_function: str | None = None
    worker_secret_key: SecretStr = SecretStr(LOCAL_WORKER_SECRET)
    # Storage quota for the monitor's 80% alert (unset: no storage alert).
    storage_quota_bytes: int | None = Field(None, gt=0)
    # Where the monitor worker's CloudWatch metrics go (serverless.yml's alarms watch them).
    metrics_namespace: str = "RestoreClick"
    metrics_stage: str = "local"
    cleanup_retention_days: int = Field(7, gt=0)
    # Photos are personal data: originals, restored photos and ZIPs of an order are deleted
    # this long after it finished (the order row stays, for accounting). The completion
    # email tells the customer.
    photo_retention_days: int = Field(90, ge=1, le=3650)
    max_restoration_attempts: int = Field(3, ge=1, le=100)
    # How long a worker holds a restoration job before others may take it (the heartbeat
    # extends it while the worker lives).
    restoration_lease_seconds: int = Field(300, ge=1)
    email_retry_delay_ms: int = Field(60_000, ge=0)
    download_link_ttl_days: int = Field(30, gt=0)
    download_max_uses: int = Field(10, gt=0)

    @model_validator(mode="after")
    def _photo_fits_a_request(self) -> Settings:
        if self.upload_request_max_bytes + MULTIPART_ALLOWANCE_BYTES > self.upload_request_body_max_bytes:
            raise ValueError(
                "UPLOAD_REQUEST_MAX_BYTES leaves no room for the multipart around a photo within "
                f"UPLOAD_REQUEST_BODY_MAX_BYTES ({self.upload_request_body_max_bytes}); lower it"
            )
        return self

    @model_validator(mode="after")
    def _refuse_local_secrets_outside_local(self) -> Settings:
        if self.app_env != "production":
            return self
        for name, stand_in in LOCAL_STAND_INS.items():
            if getattr(self, name) == stand_in:
                raise ValueError(
                    f"{name.upper()}={stand_in} is a development stand-in, refused when APP_ENV=production"
                )
        if "*" in self.allowed_origin_list:
            raise ValueError("ALLOWED_ORIGINS must list the shop's origins, not *, when APP_ENV=production")
        for name in ("stripe_webhook_secret", "worker_secret_key"):
            # Empty is what a deploy gets from `${env:NAME, ''}` when NAME was not exported:
            # an empty worker secret would let `Authorization: Bearer ` through.
            value = getattr(self, name).get_secret_value()
            if not value.strip() or value in LOCAL_SECRETS or any(not part.strip() for part in value.split(",")):
                raise ValueError(f"{name.upper()} must be set to a real secret when APP_ENV=production")
        return self

    # -- derived choices ------------------------------------------------------------
    # Outside production a provider's keys choose it and their absence means the local
    # stand-in; in production the real provider is the only choice, and its keys must be there.

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def require_all(self, *names: str, also_missing: tuple[str, ...] = ()) -> None:
        """Every setting named, or one error naming each that is missing (and `also_missing`)."""
        missing = [name.upper() for name in names if _unset(getattr(self, name))] + list(also_missing)
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise ConfigurationError(f"{', '.join(missing)} {verb} not set; required when APP_ENV=production")

    @property
    def effective_storage_backend(self) -> str:
        """`local` unless a backend was named or Supabase credentials are configured."""
        if self.storage_backend and self.storage_backend != "supabase":
            return self.storage_backend
        if self.production:
            self.require_all("supabase_url", "supabase_service_role_key")
            return "supabase"
        if self.storage_backend or (self.supabase_url and self.supabase_service_role_key):
            return "supabase"
        return "local"

    @property
    def effective_payments_provider(self) -> str:
        """`stripe` when a Stripe key is configured, `local` otherwise."""
        if self.production:
            self.require_all("stripe_secret_key")
            return "stripe"
        if self.payments_provider:
            return self.payments_provider
        return "stripe" if self.stripe_secret_key else "local"

    @property
    def success_url(self) -> str:
        return self.checkout_success_url or (f"{self.public_base_url}/?checkout_session_id={{CHECKOUT_SESSION_ID}}")

    @property
    def cancel_url(self) -> str:
        # No cart id in it by default: the payment page shows this link to whoever holds the
        # page's URL. The shop's page knows its own cart; {UPLOAD_SESSION_ID} stays available.
        return self.checkout_cancel_url or f"{self.public_base_url}/?checkout=cancelled"

    @property
    def effective_restoration_provider(self) -> str:
        """`replicate` when its token is configured, `local` otherwise."""
        if self.production:
            self.require_all("replicate_api_token")
            return "replicate"
        if self.restoration_provider:
            return self.restoration_provider
        return "replicate" if self.replicate_api_token else "local"

    @property
    def effective_email_provider(self) -> str:
        if self.production:
            # The default sender is a placeholder domain no provider would deliver from.
            sender = () if not self.email_from.endswith(LOCAL_SENDER_DOMAIN) else ("EMAIL_FROM",)
            provider = "smtp" if self.email_provider == "smtp" else "sendgrid"
            self.require_all("smtp_host" if provider == "smtp" else "sendgrid_api_key", also_missing=sender)
            return provider
        if self.email_provider:
            return self.email_provider
        return "sendgrid" if self.sendgrid_api_key else "outbox"

    @property
    def outbox_dir(self) -> Path:
        return self.outbox_dir_setting or self.local_data_dir / "outbox"

    @property
    def storage_dir(self) -> Path:
        return self.local_storage_dir or self.local_data_dir / "storage"

    @property
    def allowed_origin_list(self) -> list[str]:
        if self.allowed_origins is None:
            return [] if self.production else ["http://127.0.0.1:8000", "http://localhost:8000"]
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    def require(self, name: str) -> str:
        """The value of a setting a code path cannot do without, or a clear error naming it."""
        value = getattr(self, name.lower(), None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value in (None, ""):
            raise ConfigurationError(f"{name.upper()} is not set; it is required here")
        return str(value)


def _unset(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once per Lambda container."""
    return Settings()
