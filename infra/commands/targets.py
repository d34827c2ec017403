"""Named databases the migration commands act on: dev (DATABASE_URL) and prod
(PRODUCTION_DATABASE_URL). With no DATABASE_URL, dev is the embedded database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from shared.core.config import Settings
from shared.core.errors import ConfigurationError

TARGET_SETTINGS = {"dev": "database_url", "prod": "production_database_url"}


@dataclass(frozen=True)
class Target:
    name: str
    url: str

    @property
    def display_url(self) -> str:
        """The URL without its password, for printing."""
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self.url)
        host = parts.get("host", "localhost")
        return f"{parts.get('user', '')}@{host}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def chosen_names(names: list[str], every: bool, settings: Settings) -> list[str]:
    """The target names a command was asked for: `--all` means every configured one."""
    if every:
        return ["dev"] + (["prod"] if settings.production_database_url else [])
    unknown = [n for n in names if n not in TARGET_SETTINGS]
    if unknown:
        raise ConfigurationError(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGET_SETTINGS)}")
    return names or ["dev"]


@contextmanager
def open_targets(names: list[str], settings: Settings) -> Iterator[list[Target]]:
    """Resolve target names to URLs, starting the embedded database for dev if needed."""
    with ExitStack() as stack:
        targets = []
        for name in names:
            url = getattr(settings, TARGET_SETTINGS[name])
            if not url and name == "dev":
                from infra.local_database import local_database

                url = stack.enter_context(local_database(settings.local_data_dir, settings.local_db_port))
            if not url:
                raise ConfigurationError(
                    f"{TARGET_SETTINGS[name].upper()} is not set; it is required for --target {name}"
                )
            targets.append(Target(name, url))
        yield targets
