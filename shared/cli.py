"""`restoreclick`: the one command-line entry point for people."""

from __future__ import annotations

import typer

from shared.migrations.cli import app as db_app

app = typer.Typer(help="RestoreClick backend: run it locally, migrate it, operate it.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def main() -> None:
    """RestoreClick backend tools."""


if __name__ == "__main__":
    app()
