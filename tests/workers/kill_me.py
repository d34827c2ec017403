"""A restoration worker that hangs inside its first job, for the SIGKILL test.

Run as a script with DATABASE_URL etc. in the environment; writes MARKER when it holds a
job, then waits forever inside the provider until it is killed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from shared.core.config import get_settings
from shared.jobs.queue import deadline_in
from shared.jobs.workers import run_worker
from shared.restoration.local import LocalRestoration


def hang(self: LocalRestoration, photo: bytes) -> bytes:
    Path(os.environ["MARKER"]).write_text("holding a job")
    while True:
        time.sleep(1)


LocalRestoration.restore = hang  # type: ignore[method-assign]
run_worker("restoration", get_settings(), deadline_in(600))
