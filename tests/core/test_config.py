"""Settings: a missing setting names itself; production refuses secrets it cannot trust."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.core.config import LOCAL_WEBHOOK_SECRET, LOCAL_WORKER_SECRET, Settings
from shared.core.errors import ConfigurationError

REAL = {"stripe_webhook_secret": "whsec_real", "worker_secret_key": "w" * 40, "storage_backend": "supabase"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "APP_ENV",
        "STRIPE_WEBHOOK_SECRET",
        "WORKER_SECRET_KEY",
        "STORAGE_SIGNING_SECRET",
        "STORAGE_BACKEND",
        "EMAIL_FROM",
    ):
        monkeypatch.delenv(name, raising=False)


def production(**overrides: str) -> Settings:
    return Settings(app_env="production", _env_file=None, **{**REAL, **overrides})  # type: ignore[arg-type,call-arg]


def test_production_with_real_secrets_is_accepted() -> None:
    assert production().worker_secret_key.get_secret_value() == "w" * 40


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("worker_secret_key", ""),
        ("worker_secret_key", "   "),
        ("worker_secret_key", LOCAL_WORKER_SECRET),
        ("stripe_webhook_secret", ""),
        ("stripe_webhook_secret", LOCAL_WEBHOOK_SECRET),
        ("stripe_webhook_secret", "whsec_real,"),  # a rotation list with an empty entry
    ],
)
def test_production_refuses_empty_or_public_secrets_naming_them(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name.upper()):
        production(**{name: value})


@pytest.mark.parametrize(
    ("name", "stand_in"),
    [
        ("storage_backend", "local"),
        ("payments_provider", "local"),
        ("restoration_provider", "local"),
        ("email_provider", "outbox"),
    ],
)
def test_production_refuses_a_development_stand_in_named_outright(name: str, stand_in: str) -> None:
    with pytest.raises(ValidationError, match=f"{name.upper()}={stand_in} is a development stand-in"):
        production(**{name: stand_in})


def test_production_never_falls_back_to_a_stand_in_and_names_every_missing_variable() -> None:
    """Nothing pinned and no keys: each provider fails naming what it needs, not the outbox
    or a local folder standing in."""
    settings = production(storage_backend=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY are not set"):
        settings.effective_storage_backend  # noqa: B018
    with pytest.raises(ConfigurationError, match="SENDGRID_API_KEY, EMAIL_FROM are not set"):
        settings.effective_email_provider  # noqa: B018
    with pytest.raises(ConfigurationError, match="STRIPE_SECRET_KEY is not set"):
        settings.effective_payments_provider  # noqa: B018
    with pytest.raises(ConfigurationError, match="REPLICATE_API_TOKEN is not set"):
        settings.effective_restoration_provider  # noqa: B018
    configured = production(
        storage_backend=None,  # type: ignore[arg-type]
        supabase_url="https://p.supabase.co",
        supabase_service_role_key="k" * 40,
        sendgrid_api_key="SG.real",
        email_from="RestoreClick <orders@shop.example>",
        stripe_secret_key="sk_live_real",
        replicate_api_token="r8_real",
    )
    assert (configured.effective_storage_backend, configured.effective_email_provider) == ("supabase", "sendgrid")
    assert (configured.effective_payments_provider, configured.effective_restoration_provider) == (
        "stripe",
        "replicate",
    )


def test_production_refuses_any_origin() -> None:
    with pytest.raises(ValidationError, match="ALLOWED_ORIGINS"):
        production(allowed_origins="https://shop.example, *")


def test_local_mode_runs_on_the_public_development_secrets() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.app_env == "local" and settings.worker_secret_key.get_secret_value() == LOCAL_WORKER_SECRET


@pytest.mark.parametrize("name", ["STRIPE_SECRET_KEY", "REPLICATE_API_TOKEN", "SENDGRID_API_KEY", "SUPABASE_URL"])
def test_a_required_setting_that_is_missing_fails_with_its_name(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=f"{name} is not set"):
        Settings(_env_file=None).require(name.lower())  # type: ignore[call-arg]


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a deploy's `${env:NAME, ''}` gives: the default applies, and production still refuses."""
    monkeypatch.setenv("EMAIL_FROM", "")
    monkeypatch.setenv("DOWNLOAD_MAX_USES", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.email_from == Settings.model_fields["email_from"].default
    assert settings.download_max_uses == 10
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_real")
    monkeypatch.setenv("STORAGE_BACKEND", "supabase")
    monkeypatch.setenv("WORKER_SECRET_KEY", "")
    with pytest.raises(ValidationError, match="WORKER_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]
