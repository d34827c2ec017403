"""The project's migration manager: `restoreclick db status|push|verify`."""

from shared.migrations.files import MigrationFile, migration_files
from shared.migrations.manager import (
    MigrationFailed,
    MigrationPlan,
    MigrationRefused,
    State,
    plan_migrations,
    push_migrations,
)
from shared.migrations.split import split_statements

__all__ = [
    "MigrationFailed",
    "MigrationFile",
    "MigrationPlan",
    "MigrationRefused",
    "State",
    "migration_files",
    "plan_migrations",
    "push_migrations",
    "split_statements",
]
