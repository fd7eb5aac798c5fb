"""What readiness means for the bridge's storage: the database answers, and its schema is the one this code
expects (Alembic's head revision equals the database's)."""

from __future__ import annotations

from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bridge.db import Database
from bridge.migrate import alembic_config


@cache
def code_revisions() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code (read once: they cannot change at run time)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def database_revisions(database: Database) -> frozenset[str]:
    """The revision(s) the database is at (empty before the first migration). Raises on a database that is down."""
    with database.engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def migrations_problem(database: Database) -> str | None:
    """None when the database is at the code's head revision; otherwise what differs (revision ids only)."""
    at, expected = database_revisions(database), code_revisions()
    if at == expected:
        return None
    return f"database at {', '.join(sorted(at)) or 'no revision'}, code expects {', '.join(sorted(expected))}"
