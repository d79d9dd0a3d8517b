"""Run the Alembic migrations from inside chanwatch.

The migrations live in the repository's top-level ``alembic/`` folder; a wheel ships
that folder as the ``chanwatch_migrations`` package (see pyproject.toml), so chanwatch
migrates the same way from a checkout, an editable install or a wheel, from any folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.locks import Lock

MIGRATIONS_PACKAGE = "chanwatch_migrations"


class SchemaTooNew(Exception):
    """The database was migrated by a newer chanwatch; the message is one line."""


def migrations_dir() -> Path:
    """The folder holding env.py and versions/: the installed package, else the checkout's."""
    spec = importlib.util.find_spec(MIGRATIONS_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "env.py").is_file():
                return Path(location)
    checkout = Path(__file__).resolve().parent.parent / "alembic"
    if (checkout / "env.py").is_file():
        return checkout
    raise RuntimeError(f"chanwatch is installed without its migrations ({MIGRATIONS_PACKAGE})")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def _check_known(conn: Connection, cfg: Config) -> None:
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(conn).get_current_heads()
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        heads = ", ".join(script.get_heads())
        raise SchemaTooNew(
            f"the database is at migration {', '.join(unknown)}, newer than this chanwatch "
            f"knows (up to {heads}): install the newer chanwatch that migrated it"
        )


def _upgrade(conn: Connection, revision: str) -> None:
    if conn.dialect.name == "postgresql":
        # Several processes may start at once; one migrates, the others wait.
        conn.execute(text(f"SELECT pg_advisory_xact_lock({int(Lock.MIGRATION)})"))
    cfg = alembic_config()
    _check_known(conn, cfg)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def head_revision() -> str | None:
    """The newest migration this version of chanwatch carries."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    _check_known(conn, alembic_config())
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The applied migration, read without writing anything."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
