"""pg_dump and pg_restore of the server's own major version.

pg_dump refuses a server newer than itself, and an archive is best restored by the same
major version that wrote it, so a backup asks the server its version and looks for the
tools of exactly that major: first in the embedded PostgreSQL bundle (pgserver ships
pg_dump and pg_restore beside its server), then Debian's `postgresql-client-N`
(/usr/lib/postgresql/N/bin), then PATH. When none matches, a root shell with apt-get
installs Debian's package (as ./restoreclick does for Chromium); otherwise one line says
the command to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.core import db


class PgToolMissing(RuntimeError):
    """No pg_dump/pg_restore of the server's major version, and none could be installed."""


def server_major(url: str) -> int:
    with db.connect(url) as conn:
        row = conn.execute("select current_setting('server_version_num')::int / 10000 as major").fetchone()
    assert row is not None
    return int(row["major"])


def tool_major(path: Path) -> int | None:
    """The major version a pg_dump, pg_restore or psql says it is (`pg_dump (PostgreSQL) 16.2`)."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(found.group(1)) if found else None


def _bundle_dir() -> Path | None:
    try:
        from infra.embedded_postgres import _bin_dir

        return _bin_dir()
    except RuntimeError:
        return None


def candidates(name: str, major: int) -> list[Path]:
    """Where a `name` of this major version may be, in the order they are tried."""
    places = [_bundle_dir(), Path(f"/usr/lib/postgresql/{major}/bin")]
    found = [p / name for p in places if p is not None and (p / name).exists()]
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    return found


def find_tool(name: str, major: int, *, install: bool = True) -> Path:
    """`name` (pg_dump, pg_restore or psql) of major version `major`, installing Debian's
    postgresql-client-`major` when none is found and this is a root shell with apt-get."""
    for path in candidates(name, major):
        if tool_major(path) == major:
            return path
    package = f"postgresql-client-{major}"
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            env=env, check=False, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode == 0:
            return find_tool(name, major, install=False)
    raise PgToolMissing(
        f"no {name} for PostgreSQL {major} (the server's version) was found; run: sudo apt-get install -y {package}"
    )


def libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The connection string without its password, and an environment carrying it: a
    password on the command line would be readable by every user of the machine."""
    params = conninfo_to_dict(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    env["PGGSSENCMODE"] = "disable"  # as every connection here (see shared/core/db.py)
    return make_conninfo("", **params), env
