"""The HTTP API's CORS, as serverless resolves serverless.yml (`serverless print`): API
Gateway answers preflights itself, ignoring the app's headers, so this list is the one
production enforces. It comes from ALLOWED_ORIGINS, the variable the README exports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import ROOT, SERVERLESS, SERVICE_FILES, packaging_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("serverless-print")
    for name in SERVICE_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    (target / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return target


def _print(service_dir: Path, allowed_origins: str | None) -> subprocess.CompletedProcess[str]:
    env = packaging_env()
    env.pop("ALLOWED_ORIGINS", None)
    if allowed_origins is not None:
        env["ALLOWED_ORIGINS"] = allowed_origins
    return subprocess.run(
        [str(SERVERLESS), "print", "--stage", "prod", "--format", "json"],
        cwd=service_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _resolved(service_dir: Path, allowed_origins: str | None) -> dict[str, Any]:
    result = _print(service_dir, allowed_origins)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout[result.stdout.index("{") :])  # type: ignore[no-any-return]


def test_the_gateway_allows_exactly_the_origins_in_allowed_origins(service_dir: Path) -> None:
    config = _resolved(service_dir, " https://shop.example ,https://www.shop.example,")
    cors = config["provider"]["httpApi"]["cors"]
    assert cors["allowedOrigins"] == ["https://shop.example", "https://www.shop.example"]
    # The functions' own CORS (and their links) read the same variable.
    assert config["provider"]["environment"]["ALLOWED_ORIGINS"] == " https://shop.example ,https://www.shop.example,"


def test_without_allowed_origins_no_browser_origin_is_allowed(service_dir: Path) -> None:
    assert _resolved(service_dir, None)["provider"]["httpApi"]["cors"]["allowedOrigins"] == []


@pytest.mark.parametrize("origins", ["*", "https://shop.example,*", "https://shop.example/shop"])
def test_any_origin_or_a_non_origin_is_refused_naming_the_variable(service_dir: Path, origins: str) -> None:
    result = _print(service_dir, origins)
    assert result.returncode != 0
    assert "ALLOWED_ORIGINS" in result.stdout + result.stderr
