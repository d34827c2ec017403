"""Finishes one function's Lambda package: its requirements and bytecode, into the zip.

Run by `infra/serverless-uv-requirements.js` after `serverless package` has zipped the
function's own files, with Lambda's Python (3.12) itself, because bytecode is only valid
for the interpreter version that wrote it. Standard library only: it runs outside the
project's environment.

    python3.12 infra/lambda_package.py --artifact .serverless/status.zip \
        --constraints .serverless/lambda-requirements.txt fastapi mangum ...

- The requirements are the function's own (serverless.yml, `custom.lambdaPackages`),
  resolved by uv with uv.lock's pins as constraints: each function carries what its routes
  import and what those packages need, at the locked versions, as Lambda's wheels
  (CPython 3.12, x86_64, glibc 2.34).
- Every module is compiled with `--invalidation-mode unchecked-hash`: Lambda's code folder
  is read-only, so a module without valid bytecode is compiled again on every cold start,
  and a timestamp-checked .pyc would be judged against the zip's timestamps. Unchecked
  hash bytecode is used as it is.
- The zip is written with fixed timestamps and sorted entries, so the same inputs give
  the same bytes (and serverless the same code hash).
- `--prune` globs leave out files of a package that the shop never loads (serverless.yml
  says which and why).
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LAMBDA_PYTHON = (3, 12)
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34), x86_64.
PLATFORM = "x86_64-manylinux_2_34"
# Never needed at run time: console scripts, and test folders some wheels put at the top.
PRUNED_TOP_LEVEL = ("bin", "test", "tests")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _cache_root() -> Path:
    configured = os.environ.get("RESTORECLICK_LAMBDA_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "restoreclick" / "lambda-packages"


def compile_tree(folder: Path) -> None:
    """Bytecode beside every module, that no timestamp can invalidate."""
    done = compileall.compile_dir(
        str(folder),
        quiet=2,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not done:
        raise SystemExit(f"compiling {folder} failed")


def installed_requirements(requirements: list[str], constraints: Path, prune: list[str]) -> Path:
    """The requirements installed for Lambda and compiled, cached by everything that decides them."""
    key = hashlib.sha256(
        "\n".join([sys.version, PLATFORM, constraints.read_text(), *sorted(requirements), "--", *prune]).encode()
    ).hexdigest()[:24]
    target = _cache_root() / key
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=target.parent))
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    command = [uv, "pip", "install", "--quiet", "--target", str(building), "--python", sys.executable]
    command += ["--python-platform", PLATFORM, "--python-version", "3.12", "--only-binary", ":all:"]
    command += ["--link-mode", "copy", "--constraint", str(constraints), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise SystemExit(f"uv pip install {' '.join(requirements)} failed:\n{result.stderr.strip()}")
    for name in PRUNED_TOP_LEVEL:
        shutil.rmtree(building / name, ignore_errors=True)
    for pattern in prune:
        for path in building.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    compile_tree(building)
    try:
        building.rename(target)
    except OSError:  # another packaging run finished the same set first
        shutil.rmtree(building, ignore_errors=True)
    return target


def _add_tree(archive: zipfile.ZipFile, folder: Path, written: set[str]) -> None:
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() or name in written:
            continue
        info = zipfile.ZipInfo(name, ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = ((0o755 if os.access(path, os.X_OK) else 0o644) | 0o100000) << 16
        archive.writestr(info, path.read_bytes(), compresslevel=9)
        written.add(name)


def build(artifact: Path, requirements: list[str], constraints: Path, prune: list[str]) -> None:
    if sys.version_info[:2] != LAMBDA_PYTHON:
        raise SystemExit(f"{sys.executable} is Python {sys.version.split()[0]}; Lambda's bytecode needs 3.12")
    dependencies = installed_requirements(requirements, constraints, prune)
    with tempfile.TemporaryDirectory() as scratch:
        code = Path(scratch) / "code"
        with zipfile.ZipFile(artifact) as archive:
            archive.extractall(code)
        compile_tree(code)
        rebuilt = Path(scratch) / artifact.name
        written: set[str] = set()
        with zipfile.ZipFile(rebuilt, "w") as archive:
            _add_tree(archive, code, written)  # the function's own files win over a package's
            _add_tree(archive, dependencies, written)
        shutil.move(rebuilt, artifact)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--constraints", type=Path, required=True)
    parser.add_argument("--prune", action="append", default=[], help="a glob of installed files to leave out")
    parser.add_argument("requirements", nargs="+")
    arguments = parser.parse_args()
    build(arguments.artifact, arguments.requirements, arguments.constraints, arguments.prune)


if __name__ == "__main__":
    main()
