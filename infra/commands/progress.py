"""Progress of long work, the Rich way, on stderr: stdout stays the command's answer
(a table, or JSON for scripts), and a pipe or a log file gets no spinner frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def stderr_console() -> Console:
    return Console(stderr=True)


def _progress(*columns: Any) -> Progress:
    console = stderr_console()
    # Only for a person watching: a pipe, a log file or cron gets no frames (nor blank lines).
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


@contextmanager
def counting(description: str, unit: str) -> Iterator[Callable[[int, str], None]]:
    """A running count of work whose total is not known ahead (pages, sessions): yields
    `advance(n, note)`."""
    with _progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("[bold]{task.completed}[/] " + unit),
        TextColumn("[dim]{task.fields[note]}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task(description, total=None, note="")

        def advance(n: int, note: str) -> None:
            progress.update(task, advance=n, note=note)

        yield advance


@contextmanager
def bar(description: str, total: int) -> Iterator[Callable[[str], None]]:
    """A bar over `total` known steps (migration files): yields `step(note)`."""
    with _progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[note]}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task(description, total=total, note="")

        def step(note: str) -> None:
            progress.update(task, advance=1, note=note)

        yield step
