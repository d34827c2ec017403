"""Cold start: the import time of every function's handler, each in a fresh interpreter,
against a bare FastAPI + Mangum app and against that app plus the SDKs the function's
routes really call, each SDK imported alone in an interpreter of its own.

Import time is what Lambda's init phase spends before the first request; the first
request itself is measured by the webhook benchmark. Every import runs in a virtual
environment holding what a function's package holds (the run-time dependencies exported
from uv.lock, as the deploy plugin exports them) rather than the developer environment,
whose extra packages change what some SDKs import. Rounds are interleaved (every module
once per round) so that a noisy moment hits all of them alike; one round is a warm-up for
the disk cache and is not counted.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.benchmarks.conftest import table
from tests.benchmarks.performance import Figure, Target, at_most, publish, runs_from_env

ROOT = Path(__file__).resolve().parents[2]
BARE_APP = "tests.benchmarks.bare_app"

# How each SDK is imported by the code that calls it.
SDK_MODULES = {
    "psycopg": "psycopg",
    "stripe": "stripe",
    "storage3": "storage3",
    "PIL": "PIL.Image",
    "boto3": "boto3",
    "replicate": "replicate",
    "sendgrid": "sendgrid",
}

# The SDKs each function's routes call in production (Supabase Storage, Stripe, Replicate,
# SendGrid; boto3 where a route asks for a worker run by invoking the workers function).
FUNCTION_SDKS = {
    "upload": ["psycopg", "storage3", "PIL"],  # photos are decoded to be checked
    "checkout": ["psycopg", "stripe"],
    "stripe_webhook": ["psycopg", "stripe", "storage3", "boto3"],
    "status": ["psycopg"],
    "download": ["psycopg", "storage3"],
    "resend": ["psycopg"],
    "replicate_webhook": ["psycopg", "replicate", "storage3", "PIL", "boto3"],
    "workers": ["psycopg", "storage3", "replicate", "sendgrid", "PIL", "boto3"],
}
NO_PAYMENT_SDK = ["upload", "status", "download", "resend"]


PROBE = """
import sys, time, importlib, json
began = time.perf_counter()
importlib.import_module(sys.argv[1])
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "modules": sorted(sys.modules)}))
"""


def import_in_fresh_interpreter(python: str, module: str) -> tuple[float, set[str]]:
    done = subprocess.run(
        [python, "-c", PROBE, module], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    answer = json.loads(done.stdout)
    return answer["seconds"], set(answer["modules"])


def sdks_loaded(modules: set[str]) -> list[str]:
    return sorted(sdk for sdk, module in SDK_MODULES.items() if module.split(".")[0] in modules)


def test_cold_start_of_every_handler(database_url: str, lambda_python: str, report: Callable[[str], None]) -> None:
    handlers = {name: f"functions.{name}.handler" for name in FUNCTION_SDKS}
    measured = {"bare app": BARE_APP} | handlers | {f"sdk {s}": m for s, m in SDK_MODULES.items()}
    rounds = runs_from_env()
    seconds: dict[str, list[float]] = {label: [] for label in measured}
    loaded: dict[str, list[str]] = {}
    for round_number in range(rounds + 1):
        for label, module in measured.items():
            elapsed, modules = import_in_fresh_interpreter(lambda_python, module)
            loaded[label] = sdks_loaded(modules)
            if round_number:  # round 0 warms the disk cache
                seconds[label].append(elapsed)

    figures = {label: Figure.of(values) for label, values in seconds.items()}
    bare = figures["bare app"].median
    floors = {name: bare + sum(figures[f"sdk {sdk}"].median for sdk in sdks) for name, sdks in FUNCTION_SDKS.items()}
    rows: list[dict[str, object]] = [
        {"module": "bare FastAPI + Mangum app", "import ms": figures["bare app"].show(1000, 0)},
    ]
    targets: list[Target] = []
    for name in FUNCTION_SDKS:
        handler = figures[name].median
        rows.append(
            {
                "module": f"functions/{name}",
                "import ms": figures[name].show(1000, 0),
                "SDKs its routes call": ", ".join(FUNCTION_SDKS[name]),
                "SDKs loaded at import": ", ".join(loaded[name]) or "none",
                "floor ms (bare + SDKs)": f"{floors[name] * 1000:,.0f}",
                "× bare": f"{handler / bare:.2f}",
                "× floor": f"{handler / floors[name]:.2f}",
            }
        )
        targets.append(at_most(f"`{name}` at most 1.15× its floor", handler / floors[name], 1.15))
        if name in NO_PAYMENT_SDK:
            targets.append(at_most(f"`{name}` at most 1.25× the bare app", handler / bare, 1.25))
    sdk_rows: list[dict[str, object]] = [
        {"SDK, imported alone": f"`import {module}`", "import ms": figures[f"sdk {sdk}"].show(1000, 0)}
        for sdk, module in SDK_MODULES.items()
    ]
    unused = {name: sorted(set(loaded[name]) - set(FUNCTION_SDKS[name])) for name in FUNCTION_SDKS}
    targets.insert(
        0,
        Target(
            "no handler imports what its routes do not use (nor, at init, any SDK at all)",
            not any(loaded[name] for name in FUNCTION_SDKS),
            "; ".join(f"{n}: {', '.join(loaded[n])}" for n in FUNCTION_SDKS if loaded[n]) or "none imported",
        ),
    )
    report(table("cold start: import time in a fresh interpreter", rows))
    report(table("SDK import times", sdk_rows))
    report("\n".join(t.line() for t in targets))
    publish(
        "cold-start",
        "Cold start: handler import time",
        [(f"Import time, fresh interpreter, {rounds} rounds", rows), ("Each SDK imported alone", sdk_rows)],
        targets,
        database_url,
        notes=COLD_START_NOTES,
    )
    # Correctness: no function loads an SDK its routes never call.
    assert not any(unused.values()), unused


COLD_START_NOTES = """
Measured in a virtual environment holding only the run-time dependencies exported from
uv.lock, as a function's package does. (In the developer environment, where the `cli`
extra installs click, rich and pygments, `import httpx` also loads httpx's command line:
stripe alone then took about 550 ms instead of about 290.)

No handler imports an SDK at init, the database driver included: each is imported by the
code that calls it, so a request that never reaches it (a CORS preflight, a refused
upload) never pays for it, and the first request that does pays once per container. The
webhook benchmark's cold first request measures import and first request together.

`upload` imports the most of the four handlers held to 1.25× the bare app (the photo
check, the upload session model, direct-upload signing, the storage service): about 25 ms more than
`status`, so its margin is the thinnest, about 1.2× in a quiet run, and a noisy run can
carry its median past 1.25× (the min–max above shows the spread).

The floor adds each SDK's import time measured alone, so it counts twice what the SDKs
share with FastAPI (pydantic, typing, httpx): it is an upper bound, which is why every
handler sits far below it.
"""
