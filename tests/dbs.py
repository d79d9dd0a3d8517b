"""Test databases: a fresh SQLite file, or a fresh PostgreSQL database cloned from a template."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from storage.db import create_engine
from storage.migrate import upgrade

PG_URL = os.environ.get(
    "CHANWATCH_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
_TEMPLATE = f"cw_template_{os.getpid()}"
_template_ready: asyncio.Lock | None = None
_template_made = False
_pg_reason: str | None = None
_pg_checked = False


def _raw(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    global _pg_checked, _pg_reason
    if not _pg_checked:
        _pg_checked = True
        try:
            conn = await asyncpg.connect(_raw(PG_URL), timeout=3)
            await conn.close()
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            _pg_reason = f"no PostgreSQL at {PG_URL}: {exc}"
    return _pg_reason


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_raw(PG_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _ensure_template() -> None:
    global _template_made, _template_ready
    if _template_ready is None:
        _template_ready = asyncio.Lock()
    async with _template_ready:
        if _template_made:
            return
        await _admin(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{_TEMPLATE}"')
        engine = create_engine(_with_db(PG_URL, _TEMPLATE))
        await upgrade(engine)
        await engine.dispose()
        _template_made = True


async def new_postgres_url(migrated: bool = True) -> str:
    name = f"cw_{uuid.uuid4().hex[:12]}"
    if migrated:
        await _ensure_template()
        await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
    else:
        await _admin(f'CREATE DATABASE "{name}"')
    return _with_db(PG_URL, name)


async def drop_postgres(url: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def drop_template() -> None:
    """Drop this process's migrated template (made again if a database is asked for)."""
    global _template_made
    if _template_made:
        await _admin(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')
        _template_made = False


@asynccontextmanager
async def database_url(kind: str, tmp: Path, *, migrated: bool = True) -> AsyncIterator[str]:
    """A fresh, empty (or migrated) database of `kind` for one test."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'chanwatch.db'}"
        if migrated:
            engine = create_engine(url)
            await upgrade(engine)
            await engine.dispose()
        yield url
        return
    url = await new_postgres_url(migrated)
    try:
        yield url
    finally:
        await drop_postgres(url)
