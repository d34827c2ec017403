"""The function zips `serverless package` builds: within Lambda's size limits, each with
its own handler, shared/ and the locked run-time packages, nothing local-only, importable
on Lambda's Python; and templates cfn-lint finds no error in."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from tests.deploy.conftest import ARTIFACTS, REGION, ROOT, PackagedService

pytestmark = pytest.mark.slow

MB = 1_000_000
# Lambda's limits for a function's code (the stricter, decimal reading of "MB").
MAX_ZIPPED = 50 * MB
MAX_UNZIPPED = 250 * MB
# Never on Lambda: the `local` extra and the dev tools.
LOCAL_ONLY = {"pgserver", "cv2", "opencv_python_headless", "numpy", "uvicorn"}
DEV_ONLY = {"pytest", "_pytest", "xdist", "hypothesis", "schemathesis", "moto", "playwright", "cfnlint", "mypy", "ruff"}
# cfn-lint's W3005 (a DependsOn that a Ref already implies) is how serverless writes every
# HTTP API route; anything else it warns about is news.
KNOWN_SERVERLESS_WARNINGS = {"W3005"}
# Imported inside the modules that call them, so importing a handler does not prove them.
LAZY_IMPORTS = ("stripe", "replicate", "sendgrid", "sendgrid.helpers.mail", "PIL.Image", "storage3", "boto3")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _top_level_names(entries: list[zipfile.ZipInfo]) -> set[str]:
    """Import names and distribution names at the zip's top level (`numpy`, `numpy.libs`,
    `numpy-2.1.0.dist-info` all give `numpy`)."""
    names = set()
    for entry in entries:
        top = entry.filename.split("/", 1)[0]
        top = top.removesuffix(".libs").removesuffix(".py").removesuffix(".dist-info").split("-", 1)[0]
        names.add(_normalized(top.split(".", 1)[0]))
    return names


def _dist_infos(entries: list[zipfile.ZipInfo]) -> dict[str, str]:
    found = {}
    for entry in entries:
        top = entry.filename.split("/", 1)[0]
        if top.endswith(".dist-info"):
            name, version = top.removesuffix(".dist-info").split("-", 1)
            found[_normalized(name)] = version
    return found


def test_every_function_zip_fits_lambda_limits(packaged: PackagedService, capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for function in packaged.functions:
        entries = packaged.zip_entries(function)
        zipped = packaged.artifact(function).stat().st_size
        unzipped = sum(entry.file_size for entry in entries)
        rows.append((function, zipped, unzipped, len(entries)))
    table = "\n".join(
        [
            f"serverless package: {packaged.seconds:.0f} s; Lambda limits: {MAX_ZIPPED // MB} MB zipped,"
            f" {MAX_UNZIPPED // MB} MB unzipped",
            f"{'function':<20}{'zipped MB':>11}{'unzipped MB':>13}{'files':>8}",
            *(f"{name:<20}{size / MB:>11.1f}{unpacked / MB:>13.1f}{files:>8}" for name, size, unpacked, files in rows),
        ]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "package-sizes.txt").write_text(table + "\n")
    with capsys.disabled():
        print(f"\n{table}")

    assert rows, "serverless package built no function"
    for name, zipped, unzipped, _files in rows:
        assert zipped < MAX_ZIPPED, f"{name}.zip is {zipped / MB:.1f} MB zipped"
        assert unzipped < MAX_UNZIPPED, f"{name}.zip is {unzipped / MB:.1f} MB unzipped"


def test_packaging_needs_no_aws_account_and_raises_no_configuration_warning(packaged: PackagedService) -> None:
    # The fixture packaged with no credentials at all; serverless would have stopped at
    # the first thing that needed them (an STS call for the account, say).
    assert "Service packaged" in packaged.output
    assert "Invalid configuration" not in packaged.output
    assert "deprecation" not in packaged.output.lower()


def test_no_local_only_or_dev_package_is_shipped(packaged: PackagedService) -> None:
    for function in packaged.functions:
        shipped = _top_level_names(packaged.zip_entries(function))
        assert not shipped & LOCAL_ONLY, f"{function} ships local-only packages"
        assert not shipped & DEV_ONLY, f"{function} ships dev tools"
        assert not shipped & {"infra", "tests", "node_modules", "supabase"}, f"{function} ships non-Lambda folders"


def test_each_zip_holds_its_handler_and_shared_but_no_other_function(packaged: PackagedService) -> None:
    for function, config in packaged.functions.items():
        names = {entry.filename for entry in packaged.zip_entries(function)}
        handler_module = config["handler"].rsplit(".", 1)[0]
        assert f"{handler_module}.py" in names, f"{function}.zip lacks its handler"
        assert {"shared/__init__.py", "shared/config.py", "functions/__init__.py"} <= names
        assert any(name.startswith("shared/sql/") and name.endswith(".sql") for name in names), "no named SQL"
        handler_dir = handler_module.rsplit("/", 1)[0] + "/"
        others = {name for name in names if name.startswith("functions/") and name.count("/") > 1}
        assert all(name.startswith(handler_dir) for name in others), f"{function}.zip holds other functions"


def test_shipped_packages_are_exactly_the_locked_run_time_dependencies(packaged: PackagedService) -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {_normalized(package["name"]): package["version"] for package in lock["package"]}
    exported = {_normalized(name): version for name, version in packaged.requirements().items()}
    assert {"fastapi", "mangum", "psycopg", "psycopg_binary", "pydantic", "stripe", "pillow"} <= exported.keys()
    assert all(locked[name] == version for name, version in exported.items()), "export differs from uv.lock"
    for function in packaged.functions:
        shipped = _dist_infos(packaged.zip_entries(function))
        assert shipped == exported, f"{function} ships other packages than uv.lock's run-time set"


def test_the_workers_function_has_room_in_tmp_for_an_order_zip(packaged: PackagedService) -> None:
    """The ZIP is spooled to /tmp; moto ignores EphemeralStorage, so the template is what proves it."""
    sizes = {
        resource["Properties"]["FunctionName"]: resource["Properties"].get("EphemeralStorage", {}).get("Size", 512)
        for resource in packaged.template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert sizes[packaged.functions["workers"]["name"]] >= 4096
    assert all(size == 512 for name, size in sizes.items() if not name.endswith("-workers"))


@pytest.mark.parametrize("template", ["create_template", "template"])
def test_templates_have_no_cfn_lint_error(packaged: PackagedService, template: str) -> None:
    matches = lint(json.dumps(getattr(packaged, template)), config=ManualArgs(regions=[REGION]))
    report = "\n".join(f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}" for m in matches)
    assert not [m for m in matches if m.rule.severity == "error"], report
    assert {m.rule.id for m in matches if m.rule.severity == "warning"} <= KNOWN_SERVERLESS_WARNINGS, report


def _lambda_python(runtime: str) -> str | None:
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


# Run by the runtime's interpreter, isolated from any site-packages: only the zip's folder.
IMPORT_PROBE = """
import importlib, json, sys
sys.path[:0] = [sys.argv[1]]
module = importlib.import_module(sys.argv[2])
assert callable(module.handler), "the handler is not callable"
for name in sys.argv[3:]:
    importlib.import_module(name)
import psycopg
print(json.dumps({"psycopg": psycopg.pq.__impl__, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _function_environment(packaged: PackagedService, function: str) -> dict[str, str]:
    """The function's environment from the template, with what a deploy would fill in."""
    logical_id = next(
        key
        for key, resource in packaged.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"]["FunctionName"] == packaged.functions[function]["name"]
    )
    variables = packaged.template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
    filled = {
        "DATABASE_URL": "postgresql://restoreclick:secret@db.invalid:6543/postgres",
        "SUPABASE_URL": "https://project.supabase.invalid",
        "PUBLIC_BASE_URL": "https://restoreclick.invalid",
        "ALLOWED_ORIGINS": "https://restoreclick.invalid",
    }
    return {name: value or filled.get(name, f"deploy-check-{name.lower()}") for name, value in variables.items()}


def test_each_handler_imports_from_its_zip_alone_on_the_lambda_python(
    packaged: PackagedService, tmp_path: Path
) -> None:
    runtime = packaged.provider["runtime"]
    python = _lambda_python(runtime)
    if python is None:
        pytest.skip(f"no local {runtime} interpreter (set LAMBDA_PYTHON to one) to import the zips with")
    for function, config in packaged.functions.items():
        folder = tmp_path / function
        with zipfile.ZipFile(packaged.artifact(function)) as archive:
            archive.extractall(folder)
        module = config["handler"].rsplit(".", 1)[0].replace("/", ".")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **_function_environment(packaged, function)}
        result = subprocess.run(
            [python, "-I", "-S", "-c", IMPORT_PROBE, str(folder), module, *LAZY_IMPORTS],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        shutil.rmtree(folder)
        assert result.returncode == 0, f"{function}: {result.stderr[-3000:]}"
        loaded = json.loads(result.stdout.strip().splitlines()[-1])
        # Lambda has no libpq: psycopg must run on the one psycopg-binary carries.
        assert loaded["psycopg"] == "binary", function
        assert not set(map(_normalized, loaded["modules"])) & LOCAL_ONLY, function
