"""`restoreclick`: the one command-line entry point for people."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.migrations.cli import app as db_app

app = typer.Typer(help="RestoreClick backend: run it locally, migrate it, operate it.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def main() -> None:
    """RestoreClick backend tools."""


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port for every function's routes.")] = 8000,
    reset: Annotated[bool, typer.Option("--reset", help="Start from an empty database and storage.")] = False,
) -> None:
    """Run the whole shop locally: embedded database, every function, local stand-ins."""
    from infra.dev_server import run_dev

    run_dev(port=port, reset=reset)


if __name__ == "__main__":
    app()
