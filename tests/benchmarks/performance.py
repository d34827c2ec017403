"""Repeated measurements and their publication in docs/performance.md.

Every benchmark measures ours and a peer or floor in the same run, at least five times
each, and publishes a section: a table of median (min–max) figures, the ratios, and each
target with whether it was met. A section sits between markers of its own, so running one
benchmark rewrites its section and leaves the others (and the prose around them) alone;
each section says when and on what machine it was measured, since sections can come from
different runs.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
MIN_RUNS = 5
T = TypeVar("T")

HEADER = """# Performance

Measured by `./restoreclick bench`, which rewrites the sections below between their markers;
run one benchmark with `./restoreclick bench tests/benchmarks/<file>.py`. Each figure is the
median of at least five runs, with the min–max beside it. Machines are noisy: the ratios
against the peer or floor measured in the same run are the result, the absolute figures
are context.

"""


def runs_from_env(default: int = MIN_RUNS) -> int:
    """How many times each measurement repeats: BENCH_RUNS, never fewer than five."""
    return max(MIN_RUNS, int(os.environ.get("BENCH_RUNS") or default))


def repeat(measure: Callable[[], T], runs: int | None = None) -> list[T]:
    """`measure()` called `runs` times (BENCH_RUNS, at least five)."""
    return [measure() for _ in range(runs or runs_from_env())]


@dataclass(frozen=True)
class Figure:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Figure:
        if len(values) < MIN_RUNS:
            raise ValueError(f"{len(values)} runs; a figure needs at least {MIN_RUNS}")
        return cls(tuple(values))

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, scale: float = 1.0, digits: int = 1) -> str:
        """'median (min–max)', each multiplied by `scale`."""
        lo, hi = min(self.values) * scale, max(self.values) * scale
        return f"{self.median * scale:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})"


@dataclass(frozen=True)
class Target:
    """A target the issue set, and what was measured against it."""

    text: str
    met: bool
    measured: str

    def line(self) -> str:
        verdict = "met" if self.met else "**not met**"
        return f"- {self.text}: {self.measured} — {verdict}"


def at_most(text: str, value: float, limit: float, unit: str = "×") -> Target:
    return Target(text, value <= limit, f"{value:.2f}{unit}")


def at_least(text: str, value: float, floor: float, unit: str = "×") -> Target:
    return Target(text, value >= floor, f"{value:.2f}{unit}")


def headers_of(rows: Sequence[dict[str, object]]) -> list[str]:
    """Every key of every row, in the order first seen: a row may leave columns empty."""
    return list(dict.fromkeys(key for row in rows for key in row))


def markdown_table(rows: Sequence[dict[str, object]]) -> str:
    headers = headers_of(rows)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(row.get(h, "")) for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def postgres_version(database_url: str) -> str:
    """The server's version, and whether its commits wait for the disk."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        settings = {
            name: str(conn.execute(f"show {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit")
        }
    durability = f"fsync {settings['fsync']}, synchronous_commit {settings['synchronous_commit']}"
    return f"{settings['server_version']} ({durability})"


def machine_line(database_url: str | None) -> str:
    pg = f", PostgreSQL {postgres_version(database_url)}" if database_url else ""
    cores = os.cpu_count()
    return (
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {cores} cores ({platform.machine()}, "
        f"{platform.system()}), Python {platform.python_version()}{pg}."
    )


def publish(
    name: str,
    title: str,
    tables: Sequence[tuple[str, Sequence[dict[str, object]]]],
    targets: Sequence[Target],
    database_url: str | None = None,
    notes: str = "",
    doc: Path = DOC,
) -> str:
    """Write section `name` of the performance document; return it as text."""
    parts = [f"## {title}", "", machine_line(database_url), ""]
    for caption, rows in tables:
        if caption:
            parts += [f"**{caption}**", ""]
        parts += [markdown_table(rows), ""]
    if targets:
        parts += ["Targets:", "", *(t.line() for t in targets), ""]
    if notes:
        parts += [notes.strip(), ""]
    section = "\n".join(parts).rstrip() + "\n"
    write_section(doc, name, section)
    return section


def write_section(doc: Path, name: str, section: str) -> None:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = doc.read_text() if doc.exists() else HEADER
    block = f"{begin}\n{section}{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
