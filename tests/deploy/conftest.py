"""`serverless package`, run once per test session on a copy of the service.

A copy, so that the run neither reads nor clobbers the `.serverless/` of whoever works in
the tree, and sees exactly the files a fresh clone has. It runs with no AWS credentials of
any kind (environment and files both), as on a machine that has never seen an AWS account.
Under xdist the workers share one run: the first takes a lock and packages, the others wait
for it and read its output.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"
ARTIFACTS = ROOT / "test-artifacts"
STAGE = "dev"
REGION = "eu-west-1"
# What `serverless package` reads: the service file, the code it zips and the lock it exports.
SERVICE_FILES = (
    "serverless.yml",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "infra/serverless-uv-requirements.js",
    "infra/lambda_package.py",
    "infra/allowed-origins.js",
)
SERVICE_TREES = ("functions", "shared")
PACKAGE_TIMEOUT_SECONDS = 1800
# In Lambda's Python runtime already, and not bundled (serverless.yml says why).
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath"}
# What the deploy in these tests is given for the settings serverless.yml reads at packaging.
ALARM_EMAIL = "alerts@restoreclick.invalid"
ALLOWED_ORIGINS = "https://restoreclick.invalid,https://www.restoreclick.invalid"


@dataclass(frozen=True)
class PackagedService:
    """The output of one `serverless package`: templates, zips and serverless's own reading
    of serverless.yml (`serverless-state.json`, variables resolved)."""

    service_dir: Path
    seconds: float

    @property
    def output(self) -> str:
        """What `serverless package` printed."""
        return (self.service_dir / "serverless-package.log").read_text()

    @property
    def package_dir(self) -> Path:
        return self.service_dir / ".serverless"

    def _json(self, name: str) -> dict[str, Any]:
        return json.loads((self.package_dir / name).read_text())

    @cached_property
    def state(self) -> dict[str, Any]:
        return self._json("serverless-state.json")

    @cached_property
    def create_template(self) -> dict[str, Any]:
        """What `serverless deploy` creates first: the stack with the deployment bucket only."""
        return self._json("cloudformation-template-create-stack.json")

    @cached_property
    def template(self) -> dict[str, Any]:
        """The whole stack, which the deploy then updates the first one to."""
        return self._json("cloudformation-template-update-stack.json")

    @property
    def provider(self) -> dict[str, Any]:
        return self.state["service"]["provider"]

    @property
    def functions(self) -> dict[str, dict[str, Any]]:
        """Every function serverless.yml declares, by its name there."""
        return self.state["service"]["functions"]

    @cached_property
    def lambda_python(self) -> str:
        """The local interpreter of the runtime's version. Packaging compiled the zips with
        one and stops without it, so a packaged service on this machine means there is one."""
        python = lambda_python(self.provider["runtime"])
        assert python, f"no local {self.provider['runtime']} (set LAMBDA_PYTHON), yet packaging found one"
        return python

    def runtime_sdk(self, target: Path) -> Path:
        """What Lambda's Python runtime adds after the zip, in `target`: boto3 (uv.lock's
        version stands in for the runtime's)."""
        wanted = [f"{n}=={v}" for n, v in self.requirements().items() if n.replace("-", "_") in RUNTIME_PROVIDED]
        uv = os.environ.get("UV") or shutil.which("uv") or "uv"
        command = [uv, "pip", "install", "--quiet", "--target", str(target), "--python", self.lambda_python, *wanted]
        subprocess.run(command, check=True, capture_output=True)
        return target

    def artifact(self, function: str) -> Path:
        return self.package_dir / Path(self.functions[function]["package"]["artifact"]).name

    def zip_entries(self, function: str) -> list[zipfile.ZipInfo]:
        with zipfile.ZipFile(self.artifact(function)) as archive:
            return archive.infolist()

    def requirements(self) -> dict[str, str]:
        """The requirements exported from uv.lock that apply on Lambda (Linux, CPython of
        the runtime's version): name -> pinned version."""
        python = self.provider["runtime"].removeprefix("python")
        lambda_environment = {
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": self.provider["architecture"],
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "python_version": python,
            "python_full_version": f"{python}.0",
        }
        pinned = {}
        for line in (self.package_dir / "lambda-requirements.txt").read_text().splitlines():
            if line.strip() and not line.startswith(("#", "-")):
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate(lambda_environment):
                    (version,) = (spec.version for spec in requirement.specifier if spec.operator == "==")
                    pinned[requirement.name] = version
        return pinned


def lambda_python(runtime: str) -> str | None:
    """A local interpreter of the runtime's version (python3.12 -> 3.12), if there is one."""
    version = runtime.removeprefix("python")
    candidates = [
        os.environ.get("LAMBDA_PYTHON"),
        sys.executable,
        shutil.which(f"python{version}"),
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))),
    ]
    check = f"import sys; sys.exit(sys.version_info[:2] != {tuple(map(int, version.split('.')))})"
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", check], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def packaging_env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(
        # No credentials anywhere: neither variables nor the shared files.
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        # No calls home: usage telemetry, update and notification checks.
        SLS_TELEMETRY_DISABLED="1",
        SLS_TRACKING_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
        SLS_DISABLE_AUTO_UPDATE="1",
        ALARM_EMAIL=ALARM_EMAIL,
        ALLOWED_ORIGINS=ALLOWED_ORIGINS,
    )
    return env


def _copy_service(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in SERVICE_TREES:
        shutil.copytree(ROOT / tree, target / tree, ignore=ignore)
    for name in SERVICE_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    (target / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)


def _package(service_dir: Path) -> float:
    if not SERVERLESS.exists():
        pytest.fail(f"{SERVERLESS.relative_to(ROOT)} is missing: run ./restoreclick once (it runs npm install)")
    _copy_service(service_dir)
    started = time.monotonic()
    result = subprocess.run(
        [str(SERVERLESS), "package", "--stage", STAGE, "--region", REGION],
        cwd=service_dir,
        env=packaging_env(),
        capture_output=True,
        text=True,
        timeout=PACKAGE_TIMEOUT_SECONDS,
        check=False,
    )
    seconds = time.monotonic() - started
    (service_dir / "serverless-package.log").write_text(result.stdout + result.stderr)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy2(service_dir / "serverless-package.log", ARTIFACTS / "serverless-package.log")
    if result.returncode != 0:
        pytest.fail(f"serverless package failed ({result.returncode}):\n{(result.stdout + result.stderr)[-6000:]}")
    return seconds


def package_service(service_dir: Path) -> PackagedService:
    """`serverless package` of a fresh copy of the service in `service_dir`."""
    return PackagedService(service_dir, _package(service_dir))


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> PackagedService:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by this run's workers
    service_dir = root / "serverless-service"
    done = root / "serverless-package.json"
    with (root / "serverless-package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            if service_dir.exists():
                shutil.rmtree(service_dir)  # a worker that failed half-way
            done.write_text(json.dumps({"seconds": _package(service_dir)}))
    return PackagedService(service_dir, json.loads(done.read_text())["seconds"])
