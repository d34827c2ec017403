from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def supabase_cli() -> Path:
    """The real Supabase CLI from npm (`npm ci` installs it; `./restoreclick test` runs that)."""
    cli = ROOT / "node_modules" / ".bin" / "supabase"
    if not cli.exists():
        pytest.fail("the Supabase CLI is not installed: run `npm ci` in the repository root")
    return cli


def run_supabase(cli: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the Supabase CLI in `workdir` (which holds supabase/migrations)."""
    return subprocess.run([str(cli), *args], cwd=workdir, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of supabase/ that a test may edit: migrations, config.toml, seed.sql."""
    shutil.copytree(ROOT / "supabase", tmp_path / "supabase")
    return tmp_path
