"""A real PostgreSQL server for a laptop or CI, from the pip-installed `pgserver` binaries.

We use pgserver only for its binaries: its own server wrapper listens on a Unix socket
alone, and the Supabase CLI, pgbench and the dev server all want a TCP address. So this
module runs `initdb` and `pg_ctl` itself, on 127.0.0.1 and a port of our choosing, in a
data folder under the project's git-ignored `.restoreclick/`.

PostgreSQL refuses to run as root; when we are root (CI, containers) the server runs as
an unprivileged system user, created on first use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "pgserver"
SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    """initdb or pg_ctl failed; the message carries what it printed."""


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            # Importing pgserver warns when XDG_RUNTIME_DIR is unset; we never use that path.
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EmbeddedPostgresError(
            "embedded PostgreSQL needs the 'local' extra (pgserver); "
            "install it with `uv sync --extra local` or set DATABASE_URL"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port`.

    `fast=True` turns off durability (fsync, synchronous commit, full-page writes):
    right for a throw-away test cluster, wrong for the dev database a developer keeps.
    """

    data_dir: Path
    port: int
    fast: bool = False

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- running the binaries ---------------------------------------------------------

    def _run_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        _bin_dir()  # imports pgserver quietly
        from pgserver.utils import ensure_user_exists

        ensure_user_exists(SERVER_USER)
        return SERVER_USER

    def _prepare_permissions(self, user: str | None) -> None:
        """Let the unprivileged server user reach the binaries and own the data folder."""
        if user is None:
            return
        import pwd

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        read = 0o044
        ensure_folder_permissions(bin_dir, read | 0o011)
        ensure_folder_permissions(bin_dir.parent / "lib", read)
        ensure_folder_permissions(bin_dir.parent / "share", read)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(user)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _bin(self, name: str, *args: str, user: str | None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(_bin_dir() / name), *args],
            check=False,
            capture_output=True,
            text=True,
            user=user,
            cwd=self.data_dir,
            # The server inherits our environment; keep PG* variables of the caller out.
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{name} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    # -- lifecycle --------------------------------------------------------------------

    def is_running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        lines = pid_file.read_text().splitlines()
        try:
            pid = int(lines[0])
            port = int(lines[3])
        except (IndexError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return port == self.port and _port_in_use(port)

    def start(self) -> str:
        """Initialise the cluster if it is new, start it, and return the superuser URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_user()
        self._prepare_permissions(user)
        if not (self.pgdata / "PG_VERSION").exists():
            self._bin(
                "initdb",
                "-D", str(self.pgdata),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                user=user,
            )  # fmt: skip
        if self.is_running():
            return self.url()
        if _port_in_use(self.port):
            raise EmbeddedPostgresError(
                f"port {self.port} is taken by another program; choose another with LOCAL_DB_PORT or set DATABASE_URL"
            )
        options = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            # No Unix socket: the data folder path can exceed the socket path limit.
            "-k ''",
            "-c max_connections=200",
        ]
        if self.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._bin(
            "pg_ctl",
            "-D", str(self.pgdata),
            "-l", str(self.log_file),
            "-o", " ".join(options),
            "-w", "-t", "60",
            "start",
            user=user,
        )  # fmt: skip
        self._wait_ready()
        return self.url()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs; `mode` is pg_ctl's (smart, fast, immediate)."""
        if not (self.pgdata / "postmaster.pid").exists():
            return
        user = self._run_user()
        # Already stopped, or a stale pid file: nothing left to stop.
        with contextlib.suppress(EmbeddedPostgresError):
            self._bin("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", user=user)

    def destroy(self) -> None:
        """Stop the server and delete the cluster (`restoreclick dev --reset`)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
