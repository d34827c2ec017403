"""Run one benchmark case in a fresh process and print its peak RSS, as JSON.

Peak memory can only be compared between processes that did nothing else: in a long-lived
process the allocator keeps what earlier work freed, and the high-water mark never comes
down. Read as VmHWM (not ru_maxrss, which Linux carries over from the parent through fork
and exec).

    python -m tests.benchmarks.peak_rss_probe MODULE:FUNCTION 'JSON ARGUMENTS'

FUNCTION(**arguments) does every import and set-up, and any warm-up, then returns the
case: a callable answering a JSON-able dict. The probe reads VmHWM before and after it.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
Case = Callable[[], dict[str, Any]]


def run_in_fresh_process(
    target: str, arguments: Mapping[str, Any], env: Mapping[str, str] | None = None, timeout: float = 900
) -> dict[str, Any]:
    """Run `target` ("module:function") through this probe in a new interpreter; answer
    {"baseline_kib", "peak_kib", "result"}. `env` is added to this process's environment."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.peak_rss_probe", target, json.dumps(dict(arguments))],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise AssertionError(f"{target} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def status_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main() -> None:
    target, arguments = sys.argv[1], json.loads(sys.argv[2])
    module, _, name = target.partition(":")
    prepare: Callable[..., Case] = getattr(importlib.import_module(module), name)
    case = prepare(**arguments)
    baseline = status_kib("VmHWM")
    result = case()
    print(json.dumps({"baseline_kib": baseline, "peak_kib": status_kib("VmHWM"), "result": result}))


if __name__ == "__main__":
    main()
