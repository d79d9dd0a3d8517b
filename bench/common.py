"""Databases for benchmarks: a temp SQLite file, and PostgreSQL when the local server answers."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from storage.db import create_engine
from storage.migrate import upgrade

PG_URL = os.environ.get(
    "CHANWATCH_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def postgres_available() -> bool:
    try:
        conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    """A fresh migrated database URL of `kind` ("sqlite" or "postgres"), dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            engine = create_engine(url)
            await upgrade(engine)
            await engine.dispose()
            yield url
        return
    name = f"cw_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def kinds_available() -> list[str]:
    return ["sqlite", "postgres"] if await postgres_available() else ["sqlite"]


def headline(name: str, value: float, unit: str, ratio: float, versus: str) -> None:
    print(f"BENCH {name} {value:.4g} {unit} ratio={ratio:.3f} vs {versus}", flush=True)
