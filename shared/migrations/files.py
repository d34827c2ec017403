"""Migration files on disk: `<version>_<name>.sql` in supabase/migrations/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from shared.migrations.split import split_statements

# The Supabase CLI's own file name rule: digits, underscore, name, .sql.
FILE_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.sql$")


@dataclass(frozen=True)
class MigrationFile:
    """One migration file and the statements it holds."""

    version: str
    name: str
    path: Path

    @cached_property
    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))

    @property
    def filename(self) -> str:
        return self.path.name


def migration_files(folder: Path) -> list[MigrationFile]:
    """Every migration file in `folder`, in version order; other files are ignored."""
    if not folder.is_dir():
        raise FileNotFoundError(f"migrations folder {folder} does not exist")
    found: dict[str, MigrationFile] = {}
    for path in folder.iterdir():
        match = FILE_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        version = match["version"]
        if version in found:
            raise ValueError(f"two migration files share version {version}: {found[version].filename}, {path.name}")
        found[version] = MigrationFile(version, match["name"], path)
    # Versions compare as text, as the CLI compares them (001 < 002 < 20240101...).
    return [found[v] for v in sorted(found)]
