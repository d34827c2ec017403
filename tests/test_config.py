"""Settings: a missing setting names itself; production refuses secrets it cannot trust."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import LOCAL_WEBHOOK_SECRET, LOCAL_WORKER_SECRET, Settings
from shared.errors import ConfigurationError

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


def test_the_local_signing_secret_matters_only_where_local_storage_signs_urls() -> None:
    assert production(storage_signing_secret="").effective_storage_backend == "supabase"
    with pytest.raises(ValidationError, match="STORAGE_SIGNING_SECRET"):
        production(storage_backend="local", storage_signing_secret="")


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
