"""The function zips `serverless package` builds: within Lambda's size limits and the shop's
targets, each with its own handler, shared/ (no dev code) and exactly the packages its
handler can import, at uv.lock's versions, with bytecode Lambda's Python uses as it is;
importable from the zip alone on Lambda's Python; and templates cfn-lint finds no error in."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import ARTIFACTS, REGION, ROOT, RUNTIME_PROVIDED, PackagedService
from tests.fixtures.handler_imports import Reach, SourceTree, reachable_from

pytestmark = pytest.mark.slow

MB = 1_000_000
# Lambda's limits for a function's code (the stricter, decimal reading of "MB").
MAX_ZIPPED = 50 * MB
MAX_UNZIPPED = 250 * MB
# The shop's own targets (issue 15): small functions stay small, every one leaves room.
# status was held to 12 MB while it read only the database; since issue 18 it signs preview
# URLs, which on Supabase is an API call through storage3 (as download does, 12.9 MB), so it
# is held to what download needs, not to a figure that assumed it never touches storage.
TARGET_ZIPPED = {"status": 13 * MB, "resend": 12 * MB}
TARGET_ANY_ZIPPED = 25 * MB
# Dev and ops code of shared/ that never ships (and that production never imports).
DEV_CODE = (
    "shared/migrations/",
    "shared/payments/local_routes.py",
    "shared/storage/local_routes.py",
    "shared/email/outbox_routes.py",
    "shared/payments/local_provider.py",
    "shared/storage/local.py",
    "shared/restoration/local.py",
)
DEV_MODULES = tuple(path.removesuffix(".py").removesuffix("/").replace("/", ".") for path in DEV_CODE)
# Never on Lambda: the `local` extra and the dev tools.
LOCAL_ONLY = {"pgserver", "cv2", "opencv_python_headless", "numpy", "uvicorn"}
DEV_ONLY = {"pytest", "_pytest", "xdist", "hypothesis", "schemathesis", "moto", "playwright", "cfnlint", "mypy", "ruff"}
# cfn-lint's W3005 (a DependsOn that a Ref already implies) is how serverless writes every
# HTTP API route; anything else it warns about is news.
KNOWN_SERVERLESS_WARNINGS = {"W3005"}


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
        target = TARGET_ZIPPED.get(name, TARGET_ANY_ZIPPED)
        assert zipped <= target, f"{name}.zip is {zipped / MB:.1f} MB zipped, over its {target / MB:.0f} MB target"


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
        names = [entry.filename for entry in packaged.zip_entries(function)]
        dev_code = [name for name in names if name.startswith(DEV_CODE)]
        assert not dev_code, f"{function} ships dev code: {dev_code[:5]}"


def test_each_zip_holds_its_handler_and_shared_but_no_other_function(packaged: PackagedService) -> None:
    for function, config in packaged.functions.items():
        names = {entry.filename for entry in packaged.zip_entries(function)}
        handler_module = config["handler"].rsplit(".", 1)[0]
        assert f"{handler_module}.py" in names, f"{function}.zip lacks its handler"
        assert {"shared/__init__.py", "shared/core/config.py", "functions/__init__.py"} <= names
        assert any(name.startswith("shared/") and name.endswith(".sql") for name in names), "no named SQL"
        handler_dir = handler_module.rsplit("/", 1)[0] + "/"
        others = {
            name
            for name in names
            if name.startswith("functions/") and name.count("/") > 1 and not name.startswith("functions/__pycache__/")
        }
        assert all(name.startswith(handler_dir) for name in others), f"{function}.zip holds other functions"


def test_shipped_packages_are_at_uv_locks_versions_and_boto3_is_the_runtimes(packaged: PackagedService) -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {_normalized(package["name"]): package["version"] for package in lock["package"]}
    exported = {_normalized(name): version for name, version in packaged.requirements().items()}
    assert all(locked[name] == version for name, version in exported.items()), "export differs from uv.lock"
    for function in packaged.functions:
        shipped = _dist_infos(packaged.zip_entries(function))
        assert {"fastapi", "mangum", "psycopg", "psycopg_binary", "pydantic"} <= shipped.keys(), function
        assert {name: exported.get(name) for name in shipped} == shipped, f"{function}: not uv.lock's versions"
        assert not shipped.keys() & RUNTIME_PROVIDED, f"{function} bundles what Lambda's runtime has"


def _pyc_path(module_path: str, cache_tag: str) -> str:
    folder, _, file = module_path.rpartition("/")
    return f"{folder + '/' if folder else ''}__pycache__/{file.removesuffix('.py')}.{cache_tag}.pyc"


def test_every_module_ships_bytecode_lambdas_python_uses_unchecked(packaged: PackagedService) -> None:
    """A read-only code folder cannot cache bytecode: a module shipped without it is compiled
    on every cold start; a timestamp-checked one would be judged by the zip's timestamps."""
    python = _required_lambda_python(packaged)
    header = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, sys; print(importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    magic, cache_tag = bytes.fromhex(header[0]), header[1]
    for function in packaged.functions:
        with zipfile.ZipFile(packaged.artifact(function)) as archive:
            names = set(archive.namelist())
            sources = [name for name in names if name.endswith(".py")]
            missing = [name for name in sources if _pyc_path(name, cache_tag) not in names]
            assert not missing, f"{function}: {len(missing)} modules without bytecode, e.g. {missing[:3]}"
            for source in sources:
                pyc = archive.read(_pyc_path(source, cache_tag))[:8]
                assert pyc[:4] == magic, f"{function}: {source} compiled by another Python"
                # PEP 552 flags: bit 0 hash-based, bit 1 check the source. Unchecked hash: 0b01.
                assert int.from_bytes(pyc[4:8], "little") == 0b01, f"{function}: {source} bytecode is checked"


def _dist_metadata(archive: zipfile.ZipFile) -> dict[str, tuple[set[str], list[Requirement]]]:
    """Each shipped distribution: the top-level names its files take, and what it requires."""
    found = {}
    for name in archive.namelist():
        if name.endswith(".dist-info/METADATA"):
            folder = name.rsplit("/", 1)[0]
            metadata = archive.read(name).decode()
            dist = canonicalize_name(next(v for k, v in _headers(metadata) if k == "Name"))
            requires = [Requirement(v) for k, v in _headers(metadata) if k == "Requires-Dist"]
            record = archive.read(f"{folder}/RECORD").decode().splitlines()
            tops = {_import_name(line.split(",", 1)[0]) for line in record if line}
            found[dist] = ({top for top in tops if top}, requires)
    return found


def _headers(metadata: str) -> list[tuple[str, str]]:
    head = metadata.split("\n\n", 1)[0]
    return [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in head.splitlines()) if v]


def _import_name(path: str) -> str | None:
    top = path.split("/", 1)[0]
    if top.endswith((".dist-info", ".data")) or top in {"..", "__pycache__"}:
        return None
    return top.removesuffix(".py") if "/" in path or top.endswith(".py") else None


def audit_zip(
    archive: zipfile.ZipFile, reach: Reach, loaded: set[str], python_version: str
) -> tuple[set[str], set[str]]:
    """(what the handler can import that the zip lacks, distributions nothing asks for).

    A distribution is asked for when it provides a module the handler's code imports or
    that importing the handler loaded (FastAPI loads python-multipart for a form route,
    psycopg its binary implementation), or when such a distribution requires it."""
    dists = _dist_metadata(archive)
    provided = {top for tops, _requires in dists.values() for top in tops}
    provided |= {name.split("/", 1)[0].removesuffix(".py") for name in archive.namelist()}
    missing = reach.third_party_top_level - provided - RUNTIME_PROVIDED
    environment = {"python_version": python_version, "python_full_version": f"{python_version}.0"}
    environment |= {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
    wanted = reach.third_party_top_level | loaded
    needed = {dist for dist, (tops, _requires) in dists.items() if tops & wanted}
    # (distribution, extra) pairs to expand: `httpx[http2]` asks for httpx's http2 extra too.
    todo = [(dist, "") for dist in needed]
    expanded = set()
    while todo:
        dist, extra = todo.pop()
        if (dist, extra) in expanded:
            continue
        expanded.add((dist, extra))
        for requirement in dists.get(dist, (set(), []))[1]:
            if requirement.marker is None or requirement.marker.evaluate(environment | {"extra": extra}):
                name = canonicalize_name(requirement.name)
                needed.add(name)
                todo += [(name, ""), *((name, wanted_extra) for wanted_extra in requirement.extras)]
    return missing, set(dists) - needed


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


def _required_lambda_python(packaged: PackagedService) -> str:
    return packaged.lambda_python


# Run by the runtime's interpreter, isolated from any site-packages: the zip's folder, then
# (as Lambda's /var/runtime) the runtime's boto3. Imports what the handler's code imports,
# decodes a photo of each accepted format where Pillow ships, and lists what got loaded.
IMPORT_PROBE = """
import importlib, importlib.util, io, json, sys
sys.path[:0] = [sys.argv[1]]
sys.path.append(sys.argv[2])
module = importlib.import_module(sys.argv[3])
assert callable(module.handler), "the handler is not callable"
strict, maybe = json.loads(sys.argv[4]), json.loads(sys.argv[5])
for name in strict:
    importlib.import_module(name)
for name in maybe:
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        found = None
    if found:
        importlib.import_module(name)
if "PIL" in {name.split(".")[0] for name in strict}:
    from PIL import Image
    for kind in ("JPEG", "PNG", "WEBP"):
        photo = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 90, 60)).save(photo, kind)
        with Image.open(io.BytesIO(photo.getvalue()), formats=[kind]) as decoded:
            decoded.load()
            assert decoded.size == (64, 48), kind
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
    return {
        name: value if isinstance(value, str) and value else filled.get(name, f"deploy-check-{name.lower()}")
        for name, value in variables.items()
    }


def _handler_reach(config: dict[str, object]) -> Reach:
    module = str(config["handler"]).rsplit(".", 1)[0].replace("/", ".")
    return reachable_from(SourceTree(ROOT), module, leave_out=DEV_MODULES)


@pytest.fixture(scope="module")
def lambda_runtime_sdk(packaged: PackagedService, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return packaged.runtime_sdk(tmp_path_factory.mktemp("lambda-runtime"))


@pytest.fixture(scope="module")
def imported_from_zips(
    packaged: PackagedService, lambda_runtime_sdk: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, object]]:
    """Each handler imported from its unzipped package alone, read-only as Lambda's code
    folder is, on the runtime's Python: what it loaded."""
    python = _required_lambda_python(packaged)
    results = {}
    for function, config in packaged.functions.items():
        folder = _unzip_to(packaged, function, tmp_path_factory.mktemp(f"unzipped-{function}"))
        files_before = sum(1 for _ in folder.rglob("*"))
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        reach = _handler_reach(config)
        module = str(config["handler"]).rsplit(".", 1)[0].replace("/", ".")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), **_function_environment(packaged, function)}
        strict = sorted(reach.third_party)
        maybe = sorted(reach.third_party_maybe - reach.third_party)
        result = subprocess.run(
            [
                python,
                "-I",
                "-S",
                "-c",
                IMPORT_PROBE,
                str(folder),
                str(lambda_runtime_sdk),
                module,
                *map(json.dumps, (strict, maybe)),
            ],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
        assert result.returncode == 0, f"{function}: {result.stderr[-3000:]}"
        files_after = sum(1 for _ in folder.rglob("*"))
        loaded = json.loads(result.stdout.strip().splitlines()[-1])
        results[function] = {"reach": reach, "files_written": files_after - files_before, **loaded}
        shutil.rmtree(folder)
    return results


def test_each_handler_imports_from_its_zip_alone_on_the_lambda_python(
    imported_from_zips: dict[str, dict[str, object]],
) -> None:
    for function, loaded in imported_from_zips.items():
        # Lambda has no libpq: psycopg must run on the one psycopg-binary carries.
        assert loaded["psycopg"] == "binary", function
        assert not set(map(_normalized, loaded["modules"])) & LOCAL_ONLY, function  # type: ignore[call-overload]
        assert loaded["files_written"] == 0, function


def test_the_shipped_bytecode_is_used_as_it_is_without_reading_a_source(
    packaged: PackagedService, lambda_runtime_sdk: Path, tmp_path: Path
) -> None:
    """Every source emptied: an import that compiled a source instead of taking its
    bytecode would find nothing in it, and the handler would not import."""
    for function, config in packaged.functions.items():
        folder = _unzip_to(packaged, function, tmp_path / function)
        for source in folder.rglob("*.py"):
            source.write_text("")
        module = str(config["handler"]).rsplit(".", 1)[0].replace("/", ".")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), **_function_environment(packaged, function)}
        probe = "import importlib, sys; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2]);"
        probe += " assert callable(importlib.import_module(sys.argv[3]).handler)"
        result = subprocess.run(
            [packaged.lambda_python, "-I", "-S", "-B", "-c", probe, str(folder), str(lambda_runtime_sdk), module],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{function}: {result.stderr[-2000:]}"
        shutil.rmtree(folder)


def _unzip_to(packaged: PackagedService, function: str, folder: Path) -> Path:
    with zipfile.ZipFile(packaged.artifact(function)) as archive:
        archive.extractall(folder)
    return folder


def test_each_zip_holds_what_its_handler_can_import_and_no_other_package(
    packaged: PackagedService, imported_from_zips: dict[str, dict[str, object]]
) -> None:
    version = packaged.provider["runtime"].removeprefix("python")
    for function, loaded in imported_from_zips.items():
        with zipfile.ZipFile(packaged.artifact(function)) as archive:
            missing, unneeded = audit_zip(archive, loaded["reach"], set(loaded["modules"]), version)  # type: ignore[arg-type]
        assert not missing, f"{function}.zip lacks what its handler imports: {sorted(missing)}"
        assert not unneeded, f"{function}.zip carries packages its handler never imports: {sorted(unneeded)}"


def test_the_audit_refuses_a_zip_lacking_a_module_or_carrying_an_unused_sdk(
    packaged: PackagedService, imported_from_zips: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    """The check above can fail: `status` without psycopg, and `status` with checkout's Stripe."""
    version = packaged.provider["runtime"].removeprefix("python")
    status = imported_from_zips["status"]
    with zipfile.ZipFile(packaged.artifact("status")) as source:
        without_psycopg = tmp_path / "without-psycopg.zip"
        with zipfile.ZipFile(without_psycopg, "w") as target:
            for entry in source.infolist():
                if not entry.filename.startswith(("psycopg/", "psycopg-")):
                    target.writestr(entry.filename, source.read(entry))
        with_stripe = tmp_path / "with-stripe.zip"
        with zipfile.ZipFile(with_stripe, "w") as target, zipfile.ZipFile(packaged.artifact("checkout")) as checkout:
            for entry in source.infolist():
                target.writestr(entry.filename, source.read(entry))
            for entry in checkout.infolist():
                if entry.filename.startswith(("stripe/", "stripe-")):
                    target.writestr(entry.filename, checkout.read(entry))
    with zipfile.ZipFile(without_psycopg) as archive:
        missing, _ = audit_zip(archive, status["reach"], set(status["modules"]) - {"psycopg"}, version)  # type: ignore[arg-type]
    assert missing == {"psycopg"}
    with zipfile.ZipFile(with_stripe) as archive:
        _, unneeded = audit_zip(archive, status["reach"], set(status["modules"]), version)  # type: ignore[arg-type]
    assert unneeded == {"stripe"}


# A scheduled run, as EventBridge invokes the workers function, from the unzipped package.
SCHEDULED_RUN = """
import json, sys, traceback
sys.path[:0] = [sys.argv[1]]
sys.path.append(sys.argv[2])
from functions.workers.handler import handler

class Context:
    aws_request_id = "3c1f7e0a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
    def get_remaining_time_in_millis(self):
        return 60_000

try:
    print(json.dumps({"answer": handler({"worker": sys.argv[3]}, Context())}))
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
"""


@pytest.mark.parametrize(
    ("worker", "unset", "named"),
    [
        # Nothing pinned and no keys: no local folder or email outbox stands in.
        (
            "email",
            ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "SENDGRID_API_KEY"],
            "SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY",
        ),
        ("email", ["SENDGRID_API_KEY", "EMAIL_FROM"], "SENDGRID_API_KEY, EMAIL_FROM"),
        ("restoration", ["REPLICATE_API_TOKEN"], "REPLICATE_API_TOKEN"),
    ],
)
def test_a_scheduled_run_in_production_without_its_keys_fails_naming_them_whatever_is_pinned(
    packaged: PackagedService, lambda_runtime_sdk: Path, tmp_path: Path, worker: str, unset: list[str], named: str
) -> None:
    python = _required_lambda_python(packaged)
    with zipfile.ZipFile(packaged.artifact("workers")) as archive:
        archive.extractall(tmp_path / "code")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **_function_environment(packaged, "workers")}
    env["EMAIL_FROM"] = "RestoreClick <orders@shop.example>"
    for pinned in ("STORAGE_BACKEND", "EMAIL_PROVIDER", "PAYMENTS_PROVIDER", "RESTORATION_PROVIDER", *unset):
        env.pop(pinned, None)
    assert env["APP_ENV"] == "production"
    result = subprocess.run(
        [python, "-I", "-S", "-c", SCHEDULED_RUN, str(tmp_path / "code"), str(lambda_runtime_sdk), worker],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome.get("error") == "ConfigurationError", outcome  # not a report of success
    assert outcome["message"].startswith(named), outcome["message"]
