"""An interpreter whose packages are what a function's Lambda package holds.

The developer environment has more: the `local` and `cli` extras and the dev group. Some
SDKs import more when more is installed (httpx loads its command line when click, rich and
pygments are there), so cold-start figures taken there would not be Lambda's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lambda_like_python(where: Path) -> str:
    """A virtual environment with the run-time dependencies only, as a function's package has."""
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    requirements = where / "requirements.txt"
    export = ["export", "--frozen", "--no-default-groups", "--no-hashes", "--no-emit-project", "--no-header"]
    subprocess.run([uv, *export, "--output-file", str(requirements)], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(where / "venv")], check=True)
    python = str(where / "venv" / "bin" / "python")
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "-r", str(requirements)], check=True)
    return python
