"""Cleanup at scale: 10,000 and 100,000 expired temporary uploads, removed the way the
daily cron removes them, by bounded runs one after another until one finishes.

Each size is seeded once into a database of its own (rows by generate_series, then
VACUUM ANALYZE, as autovacuum would have left a real table), which every round clones
(CREATE DATABASE ... TEMPLATE). A round then writes the uploads' objects into local
storage (small files, on /dev/shm when there is one, so the cleanup deletes real objects
and the disk's noise stays out) and runs the cron's path,
`run_worker("cleanup", ...)`, in a fresh process: each run is given BENCH_CLEANUP_RUN_SECONDS
as the Lambda's remaining time (a scaled-down 900 s, so that the large case takes several
runs), and runs follow each other until one reports it finished. The probe's peak RSS
covers every run of the round.

The expired uploads sit five to a session, one in ten a direct upload never completed,
and one session in five abandoned a checkout (so the check for checkouts that may still
be paid has rows to look at). Every round also has uploads cleanup must not touch: fresh
ones in open sessions, an old session priced by a checkout a bank debit may still pay,
and an order's old claimed uploads whose objects have not been moved yet.

Sizes: BENCH_CLEANUP_ROWS (default "10000,100000") expired uploads;
BENCH_CLEANUP_RUN_SECONDS (default 15); BENCH_RUNS rounds (at least 5).
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from shared.core import db
from shared.core.config import Settings
from shared.jobs.cleanup import run_cleanup
from tests.benchmarks.conftest import env_int, table
from tests.benchmarks.peak_rss_probe import Case, run_in_fresh_process
from tests.benchmarks.performance import Figure, Target, at_most, publish, runs_from_env
from tests.conftest import TEMPLATE_ENV, create_test_database, drop_test_database
from tests.fixtures import factories

SIZES = [int(n.replace("_", "")) for n in os.environ.get("BENCH_CLEANUP_ROWS", "10000,100000").split(",")]
RUN_SECONDS = env_int("BENCH_CLEANUP_RUN_SECONDS", 15)
PHOTOS_PER_SESSION = 5
LIVE_SESSIONS = 20
CLAIMED = 20
AWAITING = 3
OBJECT_BYTES = b"\xff\xd8 a small stand-in for a photo \xff\xd9"
MAX_TIME_RATIO = 12.0
MAX_MEMORY_RATIO = 1.2
THIS = "tests.benchmarks.test_cleanup_scale"


@pytest.fixture
def objects_root(tmp_path: Path) -> Iterator[Path]:
    """Where rounds keep their objects: on tmpfs when the machine has one, so that the
    figures follow the cleanup rather than the disk's journal and discards."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(dir=shm, prefix="restoreclick-cleanup-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_cleanup_time_grows_linearly_in_bounded_runs(
    settings: Settings, admin_url: str, objects_root: Path, report: Callable[[str], None]
) -> None:
    rounds = runs_from_env()
    measured: dict[int, list[dict[str, Any]]] = {size: [] for size in SIZES}
    with seeded_templates(admin_url, SIZES) as templates:
        for round_number in range(rounds):
            for size in SIZES:
                url = create_test_database(admin_url, templates[size])
                data_dir = objects_root / f"round-{round_number}-{size}"
                try:
                    bucket = Settings(local_data_dir=data_dir).storage_dir / settings.storage_bucket
                    objects = write_objects(url, bucket)
                    answer = run_in_fresh_process(
                        f"{THIS}:cron_cleanup",
                        {"run_seconds": RUN_SECONDS},
                        {"DATABASE_URL": url, "LOCAL_DATA_DIR": str(data_dir)},
                    )
                    check_cleaned(url, objects, size)
                    measured[size].append(answer)
                finally:
                    drop_test_database(admin_url, url)
                    shutil.rmtree(data_dir, ignore_errors=True)

    rows, targets = summary(measured)
    report(table(f"cleanup of expired uploads, runs of {RUN_SECONDS} s, {rounds} rounds", rows))
    report("\n".join(t.line() for t in targets))
    margin = inspect.signature(run_cleanup).parameters["safety_margin_seconds"].default
    publish(
        "cleanup-scale",
        "Cleanup at scale: expired temporary uploads",
        [(f"Cron cleanup until finished, runs given {RUN_SECONDS} s each, fresh process, {rounds} rounds", rows)],
        targets,
        settings.database_url,
        notes=NOTES.format(margin=f"{margin:g}", run_seconds=RUN_SECONDS, work_seconds=f"{RUN_SECONDS - margin:g}"),
    )


def summary(measured: dict[int, list[dict[str, Any]]]) -> tuple[list[dict[str, object]], list[Target]]:
    rows: list[dict[str, object]] = []
    totals, cpu, peaks, longest = {}, {}, {}, {}
    for size, answers in measured.items():
        runs = [a["result"]["runs"] for a in answers]
        totals[size] = Figure.of([sum(r["seconds"] for r in rs) for rs in runs])
        cpu[size] = Figure.of([sum(r["cpu_seconds"] for r in rs) for rs in runs])
        peaks[size] = Figure.of([a["peak_kib"] / 1024 for a in answers])
        longest[size] = Figure.of([max(r["seconds"] for r in rs) for rs in runs])
        rows.append(
            {
                "expired uploads": f"{size:,}",
                "total s": totals[size].show(digits=2),
                "worker CPU s": cpu[size].show(digits=2),
                "runs": Figure.of([len(rs) for rs in runs]).show(digits=0),
                "longest run s": longest[size].show(digits=2),
                "uploads/s": Figure.of([size / t for t in totals[size].values]).show(digits=0),
                "peak RSS MiB": peaks[size].show(),
                "growth MiB": Figure.of([(a["peak_kib"] - a["baseline_kib"]) / 1024 for a in answers]).show(),
            }
        )
    small, large = min(measured), max(measured)
    time_ratio = totals[large].median / totals[small].median
    # The rounds least disturbed by whatever else the machine ran: context for the median.
    fastest_ratio = min(totals[large].values) / min(totals[small].values)
    memory_ratio = peaks[large].median / peaks[small].median
    rows.append(
        {
            "expired uploads": f"{large // small}× the rows",
            "total s": f"{time_ratio:.2f}× (fastest rounds {fastest_ratio:.2f}×)",
            "worker CPU s": f"{cpu[large].median / cpu[small].median:.2f}×",
            "peak RSS MiB": f"{memory_ratio:.2f}×",
        }
    )
    slowest = max(max(figure.values) for figure in longest.values())
    targets = [
        at_most(f"time for {large:,} at most {MAX_TIME_RATIO:.0f}× the time for {small:,}", time_ratio, MAX_TIME_RATIO),
        at_most(f"peak RSS for {large:,} at most {MAX_MEMORY_RATIO}× for {small:,}", memory_ratio, MAX_MEMORY_RATIO),
        at_most(f"every run within the {RUN_SECONDS} s it was given", slowest, RUN_SECONDS, unit=" s"),
    ]
    return rows, targets


NOTES = """
Each round removes the expired uploads of a fresh clone of the seeded database (rows marked
expired, objects deleted from local storage, sessions closed) by the cron's path, one run
after another; the total is the sum of the runs. A run takes no new page of 500 once less
than {margin} s of its time is left (run_cleanup's safety margin), so a run given
{run_seconds} s works for about {work_seconds} s. Objects are small files, on tmpfs where
the machine has one (the disk's journal and discards made the times vary threefold). Peak RSS
is the probe process's high-water mark (VmHWM) over all the runs of a round; growth is
above its mark once set up and connected to the database. Worker CPU is the probe
process's own (user and system; the database server's is not in it): it varies less than
wall time when other work shares the machine's two cores.

Before two fixes, this benchmark measured 100,000 at 24× the time of 10,000 and 1.22× its
peak RSS (17 MiB of growth): every page of the cleanup sorted all the uploads still waiting
(pages now come in the order of the index that finds them), and local storage made a Path
object for every folder it listed (cleanup lists the temporary area, a folder per upload
session, on every run).
"""


# -- seeding ---------------------------------------------------------------------------


@contextmanager
def seeded_templates(admin_url: str, sizes: list[int]) -> Iterator[dict[int, str]]:
    """A database per size with its expired and live uploads, to clone for each round."""
    urls: dict[int, str] = {}
    try:
        for size in sizes:
            urls[size] = create_test_database(admin_url, os.environ[TEMPLATE_ENV])
            with db.connect(urls[size]) as conn:
                seed(conn, size)
                conn.execute("vacuum analyze")
        yield {size: str(conninfo_to_dict(url)["dbname"]) for size, url in urls.items()}
    finally:
        for url in urls.values():
            drop_test_database(admin_url, url)


def seed(conn: db.Connection, expired: int) -> None:
    """`expired` uploads past retention in sessions long expired (one in ten a direct
    upload never completed); fresh uploads in open sessions; an order's claimed uploads."""
    sessions = -(-expired // PHOTOS_PER_SESSION)
    conn.execute(
        """
        insert into upload_sessions (id, expires_at, created_at, photo_count)
        select gen_random_uuid(), now() - interval '28 days' + s * interval '1 second',
               now() - interval '30 days' + s * interval '1 second', %(per)s
        from generate_series(1, %(sessions)s) s
        """,
        {"sessions": sessions, "per": PHOTOS_PER_SESSION},
    )
    conn.execute(
        """
        insert into file_uploads (upload_session_id, storage_path, filename, content_type, size_bytes, sha256,
                                  width, height, status, expires_at, created_at)
        select s.id, 'uploads/temp/' || s.id || '/' || md5(s.id::text || g) || '.jpg', 'photo ' || g || '.jpg',
               'image/jpeg', %(bytes)s,
               case when mod(g, 10) = 0 then null else repeat('a', 64) end,
               case when mod(g, 10) = 0 then null else 1600 end, case when mod(g, 10) = 0 then null else 1200 end,
               case when mod(g, 10) = 0 then 'pending' else 'uploaded' end, s.expires_at, s.created_at
        from upload_sessions s cross join generate_series(1, %(per)s) g
        order by s.created_at, g
        limit %(expired)s
        """,
        {"per": PHOTOS_PER_SESSION, "expired": expired, "bytes": len(OBJECT_BYTES)},
    )
    # One expired session in five went as far as a checkout and abandoned it.
    conn.execute(
        """
        insert into checkouts (upload_session_id, stripe_checkout_session_id, payments_provider, status, email,
                               file_upload_ids, photo_count, unit_amount, amount_total, currency, idempotency_key,
                               expires_at, created_at)
        select f.upload_session_id, 'cs_bench_' || f.upload_session_id, 'local', 'expired', 'someone@example.com',
               array_agg(f.id), count(*), 999, 999 * count(*), 'usd', 'bench-' || f.upload_session_id,
               min(f.created_at) + interval '1 hour', min(f.created_at)
        from file_uploads f
        where mod(get_byte(uuid_send(f.upload_session_id), 15), 5) = 0
        group by f.upload_session_id
        """
    )
    # Past retention but priced by a checkout a bank debit may still pay: kept.
    awaiting = factories.upload_session(conn)
    photos = [factories.file_upload(conn, awaiting["id"], size_bytes=len(OBJECT_BYTES)) for _ in range(AWAITING)]
    conn.execute(
        "update file_uploads set created_at = now() - interval '10 days' where upload_session_id = %s", [awaiting["id"]]
    )
    conn.execute("update upload_sessions set status = 'checkout' where id = %s", [awaiting["id"]])
    factories.insert(
        conn, "checkouts", upload_session_id=awaiting["id"], stripe_checkout_session_id="cs_bench_awaiting",
        payments_provider="local", status="open", email="debit@example.com", file_upload_ids=[p["id"] for p in photos],
        photo_count=AWAITING, unit_amount=999, amount_total=999 * AWAITING, currency="usd",
        idempotency_key="bench-awaiting", expires_at=datetime.now(UTC) + timedelta(hours=1),
        created_at=datetime.now(UTC) - timedelta(days=10),
    )  # fmt: skip
    for _ in range(LIVE_SESSIONS):
        session = factories.upload_session(conn)
        for _ in range(PHOTOS_PER_SESSION):
            factories.file_upload(conn, session["id"], size_bytes=len(OBJECT_BYTES))
    # A paid order whose photos are still in the temporary area (the move after commit
    # has not happened yet): old, claimed, and needed.
    order = factories.order(conn, image_count=CLAIMED)
    for n in range(CLAIMED):
        upload = factories.file_upload(
            conn, order["upload_session_id"], status="claimed", order_id=order["id"], size_bytes=len(OBJECT_BYTES)
        )
        conn.execute("update file_uploads set created_at = now() - interval '30 days' where id = %s", [upload["id"]])
        factories.insert(
            conn, "images", order_id=order["id"], type="original", file_upload_id=upload["id"],
            storage_path=f"uploads/originals/{order['id']}/{uuid.uuid4().hex}.jpg", filename=f"photo {n}.jpg",
            content_type="image/jpeg", size_bytes=len(OBJECT_BYTES),
        )  # fmt: skip


def write_objects(url: str, bucket_dir: Path) -> dict[str, list[str]]:
    """Every upload's object in local storage, dated as old as its row; the paths by
    whether cleanup must remove them ("expired") or keep them ("kept")."""
    with db.connect(url) as conn:
        found = conn.execute(
            "select f.storage_path, f.upload_session_id = any(select upload_session_id from checkouts"
            " where status = 'open') or f.order_id is not null or f.created_at > now() - interval '7 days' as kept,"
            " extract(epoch from f.created_at)::float8 as written from file_uploads f"
        ).fetchall()
    objects: dict[str, list[str]] = {"expired": [], "kept": []}
    folders: set[Path] = set()
    for row in found:
        file = bucket_dir / row["storage_path"]
        if file.parent not in folders:
            file.parent.mkdir(parents=True, exist_ok=True)
            folders.add(file.parent)
        file.write_bytes(OBJECT_BYTES)
        os.utime(file, (row["written"], row["written"]))
        objects["kept" if row["kept"] else "expired"].append(str(file))
    return objects


COUNT_BY_STATUS = "select status, count(*)::int as n from {table} group by status"


def check_cleaned(url: str, objects: dict[str, list[str]], expired: int) -> None:
    """Correctness: every expired upload is expired and its object gone; nothing live touched."""
    with db.connect(url) as conn:
        statuses = {r["status"]: r["n"] for r in conn.execute(COUNT_BY_STATUS.format(table="file_uploads"))}
        sessions = {r["status"]: r["n"] for r in conn.execute(COUNT_BY_STATUS.format(table="upload_sessions"))}
    assert statuses == {
        "expired": expired,
        "uploaded": LIVE_SESSIONS * PHOTOS_PER_SESSION + AWAITING,
        "claimed": CLAIMED,
    }, statuses
    assert sessions == {
        "expired": -(-expired // PHOTOS_PER_SESSION),
        "open": LIVE_SESSIONS + 1,
        "checkout": 1,
    }, sessions
    assert len(objects["expired"]) == expired
    assert not any(os.path.exists(path) for path in objects["expired"])
    assert all(Path(path).read_bytes() == OBJECT_BYTES for path in objects["kept"])


# What the probe runs in its fresh process.


def cron_cleanup(run_seconds: float) -> Case:
    """Cleanup runs as the scheduled Lambda makes them, until one finishes."""
    from shared.core.config import get_settings
    from shared.deps import get_database, get_storage
    from shared.jobs.queue import deadline_in
    from shared.jobs.workers import run_worker

    settings = get_settings()
    get_storage()
    with get_database().transaction() as conn:
        conn.execute("select 1")  # connected before the baseline is read

    def case() -> dict[str, Any]:
        runs: list[dict[str, Any]] = []
        while len(runs) < 10_000:
            began, began_cpu = time.perf_counter(), time.process_time()
            outcome = run_worker("cleanup", settings, deadline_in(run_seconds))["cleanup"]
            runs.append(
                {
                    "seconds": time.perf_counter() - began,
                    "cpu_seconds": time.process_time() - began_cpu,
                    "counts": outcome["counts"],
                }
            )
            if outcome["finished"]:
                break
        return {"runs": runs}

    return case
