"""The local scheduler follows serverless.yml and runs a worker at once when asked."""

from __future__ import annotations

import time
from pathlib import Path

from infra.scheduler import LocalScheduler, Schedule, schedules_from_serverless

ROOT = Path(__file__).resolve().parents[2]


def test_schedules_come_from_serverless_yml() -> None:
    found = {s.worker: s.every_seconds for s in schedules_from_serverless(ROOT / "serverless.yml")}
    assert found == {"restoration": 60, "email": 60, "cleanup": 86400, "monitor": 300, "checkouts": 900}


def test_each_worker_runs_on_its_schedule_and_on_request() -> None:
    ran: list[str] = []
    scheduler = LocalScheduler([Schedule("fast", 0.1), Schedule("slow", 3600)], ran.append).start()
    try:
        time.sleep(0.45)
        assert ran.count("slow") == 1  # once at start, then not for an hour
        assert ran.count("fast") >= 3
        scheduler.request("slow")
        deadline = time.monotonic() + 2
        while ran.count("slow") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ran.count("slow") == 2
    finally:
        scheduler.stop()


def test_cloudformation_short_tags_in_serverless_yml_do_not_stop_the_scheduler(tmp_path: Path) -> None:
    config = tmp_path / "serverless.yml"
    config.write_text(
        "provider:\n  iam:\n    role:\n      statements:\n"
        "        - Resource: !Sub 'arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:x'\n"
        "        - Resource: !GetAtt [Workers, Arn]\n"
        "functions:\n  workers:\n    events:\n"
        "      - schedule: {rate: rate(5 minutes), input: {worker: cleanup}}\n"
    )
    [schedule] = schedules_from_serverless(config)
    assert (schedule.worker, schedule.every_seconds) == ("cleanup", 300)
