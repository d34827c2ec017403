"""Cold start as Lambda runs it: each function's zip from `serverless package`, unzipped
into a read-only folder, imported by Python 3.12 in a fresh interpreter that sees nothing
but the zip and the runtime's boto3 (`-I -S`), then its first request against a real
database (handler(event, context), as the Lambda runtime calls it).

Each is measured beside:
- the same code compiled: the same files in a writable copy whose bytecode that Python
  wrote itself on a warm-up import (timestamp-checked, the usual developer case);
- the same files without bytecode, read-only: what every cold start paid when the zips
  carried none (every imported module compiled, every time);
- a bare FastAPI + Mangum app, packaged the same way (infra/lambda_package.py).
Rounds are interleaved (every variant of every function once per round) so that a noisy
moment hits all of them alike; round 0 warms the disk cache and is not counted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.conftest import table
from tests.benchmarks.performance import Figure, Target, at_most, publish, runs_from_env
from tests.deploy.conftest import PackagedService, package_service
from tests.fixtures.events import http_event

ROOT = Path(__file__).resolve().parents[2]
WORKER_SECRET = uuid.uuid4().hex
VARIANTS = ("shipped", "compiled", "no bytecode")

PROBE = """
import importlib, json, sys, time
began, began_cpu = time.perf_counter(), time.process_time()
sys.path[:0] = [sys.argv[1]]
sys.path.append(sys.argv[2])
module = importlib.import_module(sys.argv[3])
imported, imported_cpu = time.perf_counter(), time.process_time()

class Context:
    function_name = "cold-start-benchmark"
    aws_request_id = "b7d1c0de-0000-4000-8000-000000000001"
    def get_remaining_time_in_millis(self):
        return 29_000

answer = module.handler(json.loads(sys.argv[4]), Context())
answered, answered_cpu = time.perf_counter(), time.process_time()
print(json.dumps({
    "import": imported_cpu - began_cpu,
    "import wall": imported - began,
    "request": answered_cpu - imported_cpu,
    "request wall": answered - imported,
    "status": answer["statusCode"],
}))
"""


def _event(method: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
    payload = None if body is None else json.dumps(body).encode()
    return http_event("apigw", method, path, payload, {"content-type": "application/json", **headers})


# A first request each function can answer with no paid service behind it: each reads or
# writes the database except the two webhooks, which refuse an unsigned delivery first.
FIRST_REQUESTS: dict[str, tuple[dict[str, Any], int]] = {
    "status": (_event("GET", f"/api/restoration/status/{uuid.uuid4()}"), 404),
    "resend": (
        _event("POST", "/api/email/resend", {"email": "ada@example.com", "order_number": "20260101-000001"}),
        202,
    ),
    "upload": (_event("GET", f"/api/uploads/{uuid.uuid4()}"), 404),
    "checkout": (
        _event("POST", "/api/checkout", {"upload_session_id": str(uuid.uuid4()), "email": "ada@example.com"}),
        404,
    ),
    "download": (_event("GET", "/api/download/rc_dl_notarealtokenatall0000000000"), 404),
    "stripe_webhook": (_event("POST", "/api/webhooks/stripe", {"id": "evt_1"}), 400),
    "replicate_webhook": (_event("POST", "/api/webhooks/replicate", {"id": "p1"}), 400),
    "workers": (_event("GET", "/api/metrics", authorization=f"Bearer {WORKER_SECRET}"), 200),
}
BARE = "bare FastAPI + Mangum app"
BARE_REQUEST = (_event("GET", "/api/things/abc"), 200)


def _environment(database_url: str, folder: Path) -> dict[str, str]:
    """Production settings, as serverless.yml gives them; the paid services' keys are
    placeholders no first request above reaches."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(folder),
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "STORAGE_BACKEND": "supabase",
        "SUPABASE_URL": "https://project.supabase.invalid",
        "SUPABASE_SERVICE_ROLE_KEY": "service-role-key-placeholder",
        "STRIPE_SECRET_KEY": "sk_test_placeholder",
        "STRIPE_WEBHOOK_SECRET": "whsec_placeholderplaceholder",
        "REPLICATE_API_TOKEN": "r8_placeholder",
        "REPLICATE_WEBHOOK_SECRET": "whsec_cGxhY2Vob2xkZXJwbGFjZWhvbGRlcg==",
        "SENDGRID_API_KEY": "SG.placeholder",
        "EMAIL_FROM": "RestoreClick <orders@shop.example>",
        "WORKER_SECRET_KEY": WORKER_SECRET,
        "PUBLIC_BASE_URL": "https://shop.example",
        "ALLOWED_ORIGINS": "https://shop.example",
    }


def _unzip(artifact: Path, folder: Path) -> Path:
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(folder)
    return folder


def _without_bytecode(folder: Path) -> None:
    for cache in list(folder.rglob("__pycache__")):
        shutil.rmtree(cache)


def _read_only(folder: Path) -> Path:
    subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    return folder


def _files(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> PackagedService:
    """`serverless package`, as the deploy tests run it (no AWS account)."""
    return package_service(tmp_path_factory.mktemp("cold-start") / "service")


@pytest.fixture(scope="module")
def bare_zip(shipped: PackagedService, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bare app as a function package of its own: its one module, FastAPI, Mangum and
    pydantic at uv.lock's versions, compiled as the functions are."""
    folder = tmp_path_factory.mktemp("bare-app")
    artifact = folder / "bare.zip"
    with zipfile.ZipFile(artifact, "w") as archive:
        archive.write(Path(__file__).with_name("bare_app.py"), "bare_app.py")
    builder = [shipped.lambda_python, str(ROOT / "infra" / "lambda_package.py"), "--artifact", str(artifact)]
    builder += ["--constraints", str(shipped.package_dir / "lambda-requirements.txt"), "fastapi", "mangum", "pydantic"]
    subprocess.run(builder, check=True, capture_output=True)
    return artifact


def test_cold_start_of_every_function_as_shipped(
    shipped: PackagedService,
    bare_zip: Path,
    database_url: str,
    tmp_path: Path,
    report: Callable[[str], None],
) -> None:
    runtime = shipped.runtime_sdk(tmp_path / "runtime")
    cases: dict[str, tuple[Path, str, tuple[dict[str, Any], int]]] = {BARE: (bare_zip, "bare_app", BARE_REQUEST)}
    for name, config in shipped.functions.items():
        module = config["handler"].rsplit(".", 1)[0].replace("/", ".")
        cases[name] = (shipped.artifact(name), module, FIRST_REQUESTS[name])
    folders: dict[tuple[str, str], Path] = {}
    for name, (artifact, _module, _request) in cases.items():
        for variant in VARIANTS:
            folder = _unzip(artifact, tmp_path / variant.replace(" ", "-") / name)
            if variant != "shipped":
                _without_bytecode(folder)
            folders[(name, variant)] = folder if variant == "compiled" else _read_only(folder)
    written_before = {key: _files(folder) for key, folder in folders.items() if key[1] == "shipped"}

    def cold(name: str, variant: str) -> dict[str, Any]:
        _artifact, module, (event, _status) = cases[name]
        folder = folders[(name, variant)]
        # -B where Lambda could not write either: the folder's permissions stop no root user.
        never_write = [] if variant == "compiled" else ["-B"]
        done = subprocess.run(
            [
                shipped.lambda_python,
                "-I",
                "-S",
                *never_write,
                "-c",
                PROBE,
                str(folder),
                str(runtime),
                module,
                json.dumps(event),
            ],
            cwd=folder,
            env=_environment(database_url, folder),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{name} ({variant}): {done.stderr[-2000:]}"
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    rounds = runs_from_env()
    imports: dict[tuple[str, str], list[float]] = {key: [] for key in folders}
    walls: dict[str, list[float]] = {name: [] for name in cases}
    requests: dict[str, list[float]] = {name: [] for name in cases}
    for round_number in range(rounds + 1):
        for name in cases:
            for variant in VARIANTS:
                answer = cold(name, variant)
                assert answer["status"] == cases[name][2][1], f"{name} ({variant}) answered {answer['status']}"
                if round_number:  # round 0 warms the disk cache (and writes `compiled`'s bytecode)
                    imports[(name, variant)].append(answer["import"])
                    if variant == "shipped":
                        requests[name].append(answer["request"])
                        walls[name].append(answer["import wall"])
    # Read-only, as on Lambda: nothing was written next to the shipped code.
    assert {key: _files(folder) for key, folder in folders.items() if key[1] == "shipped"} == written_before

    figures = {key: Figure.of(values) for key, values in imports.items()}
    first = {name: Figure.of(values) for name, values in requests.items()}
    wall = {name: Figure.of(values) for name, values in walls.items()}
    bare = figures[(BARE, "shipped")].median
    rows: list[dict[str, object]] = []
    targets: list[Target] = []
    for name in cases:
        as_shipped = figures[(name, "shipped")]
        compiled = figures[(name, "compiled")].median
        row: dict[str, object] = {
            "function": name if name == BARE else f"`{name}`",
            "import as shipped, CPU ms": as_shipped.show(1000, 0),
            "same code compiled, CPU ms": figures[(name, "compiled")].show(1000, 0),
            "no bytecode, CPU ms": figures[(name, "no bytecode")].show(1000, 0),
            "import as shipped, wall ms": wall[name].show(1000, 0),
            "first request, CPU ms": first[name].show(1000, 0),
        }
        if name != BARE:
            row["× compiled"] = f"{as_shipped.median / compiled:.2f}"
            row["× bare"] = f"{as_shipped.median / bare:.2f}"
            row["no bytecode × shipped"] = f"{figures[(name, 'no bytecode')].median / as_shipped.median:.2f}"
            targets.append(
                at_most(f"`{name}` as shipped at most 1.15× the same code compiled", as_shipped.median / compiled, 1.15)
            )
            targets.append(at_most(f"`{name}` as shipped at most 1.3× the bare app", as_shipped.median / bare, 1.3))
        rows.append(row)
    sizes = [
        {
            "package": name,
            "zipped MB": f"{(bare_zip if name == BARE else shipped.artifact(name)).stat().st_size / 1e6:.1f}",
        }
        for name in cases
    ]
    report(table("cold start as shipped (Python 3.12, read-only zips)", rows))
    report("\n".join(t.line() for t in targets))
    publish(
        "cold-start",
        "Cold start: the zips as Lambda runs them",
        [
            (f"Fresh Python 3.12 interpreter, read-only unzipped package, {rounds} rounds", rows),
            ("Package sizes", sizes),
        ],
        targets,
        database_url,
        notes=COLD_START_NOTES,
    )


COLD_START_NOTES = """
The ratios and targets are on CPU time (`time.process_time()` in the fresh process): the
machine these run on is shared, and under load its wall-clock figures swing threefold
between runs of the same thing, while a Lambda function's init has its vCPU to itself, so
its wall time is close to its CPU time plus disk reads. The wall-clock import is beside it,
as context.

Each figure is one fresh `python3.12 -I -S` process (with `-B` but for "same code
compiled": nothing may write bytecode, as on Lambda): the unzipped package (read-only) and,
after it, boto3 as Lambda's runtime has it, nothing else on the path. "Import" is the
handler module's import, which is Lambda's init phase apart from the interpreter's own
start; "first request" is `handler(event, context)` with an API Gateway event right after
it: the SDK and driver imports the route needs, the database connection, the query.

"Same code compiled" holds the same files with bytecode written by that Python on a
warm-up import; "no bytecode" is what the zips shipped before (each cold start compiled
every module it imported, as Lambda's code folder cannot keep what it compiles). The
shipped zips carry bytecode compiled by Python 3.12 with `--invalidation-mode
unchecked-hash`, which Python uses without looking at the sources' timestamps.

Powertools for AWS Lambda (Logger and Metrics, 3.37.0) was measured by hand for the
choice, outside this benchmark: installed for Python 3.12, compiled unchecked-hash, fresh
`python3.12 -I -S` processes, wall clock on this machine under load. Alone, `from
aws_lambda_powertools import Logger, Metrics` took 62–168 ms (six runs); after FastAPI,
Mangum and pydantic-settings were loaded, 15–20 ms more (seven runs). Not adopted:
`shared/core/logs.py` already writes the JSON lines with every extra field, the
redaction and both request ids, and the monitor writes its one embedded-metric line
itself; Powertools would add a dependency (and jmespath) to every package for features
the shop does not use.
"""
