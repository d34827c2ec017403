"""The dev server's stand-in for EventBridge: runs the workers on the schedules that
serverless.yml declares, and at once when asked (after an order commits).

One thread; each worker runs at most one at a time; a run that fails is logged and the
schedule goes on, as a Lambda error would.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("restoreclick.scheduler")
UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass
class Schedule:
    worker: str
    every_seconds: float


def schedules_from_serverless(path: Path) -> list[Schedule]:
    """Every `schedule: {rate: rate(N unit), input: {worker: name}}` in serverless.yml."""
    import yaml

    # PyYAML ships no type hints (and its stubs are not installed), so SafeLoader is Any here.
    class ServerlessLoader(yaml.SafeLoader):  # type: ignore[misc]
        """Safe loading that reads CloudFormation's short tags (`!Sub`, `!Ref`, …) as their plain
        values: serverless.yml may use them, and the schedules never do."""

    ServerlessLoader.add_multi_constructor("!", lambda loader, _tag, node: _plain(loader, node))
    config = yaml.load(path.read_text(), Loader=ServerlessLoader)  # a SafeLoader: no arbitrary objects
    found = []
    for function in (config.get("functions") or {}).values():
        for event in function.get("events") or []:
            schedule: Any = event.get("schedule") if isinstance(event, dict) else None
            if not schedule:
                continue
            match = re.fullmatch(r"rate\((\d+) (\w+)\)", str(schedule["rate"]))
            if not match:
                raise ValueError(f"unsupported schedule {schedule['rate']!r}")
            found.append(Schedule(schedule["input"]["worker"], int(match[1]) * UNITS[match[2]]))
    return found


class LocalScheduler:
    def __init__(self, schedules: list[Schedule], run: Any, speedup: float = 1.0) -> None:
        self.schedules = schedules
        self.run = run  # run(worker_name) -> report
        now = time.monotonic()
        self.due = {s.worker: now for s in schedules}
        self.every = {s.worker: s.every_seconds / speedup for s in schedules}
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="scheduler")
        self.runs: dict[str, int] = {s.worker: 0 for s in schedules}

    def request(self, worker: str) -> None:
        """Run `worker` as soon as possible (what an async Lambda invoke does in AWS)."""
        if worker in self.due:
            self.due[worker] = time.monotonic()
            self.wake.set()

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            now = time.monotonic()
            for worker, due in list(self.due.items()):
                if due <= now and not self.stop_event.is_set():
                    self.due[worker] = now + self.every[worker]
                    try:
                        self.run(worker)
                        self.runs[worker] += 1
                    except Exception:
                        log.exception("scheduled %s run failed", worker)
            wait = max(0.05, min(self.due.values()) - time.monotonic())
            self.wake.wait(timeout=wait)
            self.wake.clear()

    def start(self) -> LocalScheduler:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        self.thread.join(timeout=30)


def _plain(loader: Any, node: Any) -> Any:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)
