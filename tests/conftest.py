from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from chanwatch.lazytypes import import_aiogram
from storage.db import SessionMaker, create_engine, session_factory
from tests import dbs

# As `chanwatch run` does: the tests use aiogram's models built as they are used.
import_aiogram()

DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def db_url(db_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    if db_kind == "postgres" and (reason := await dbs.postgres_unavailable()):
        pytest.skip(reason)
    async with dbs.database_url(db_kind, tmp_path) as url:
        yield url


@pytest_asyncio.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionMaker:
    return session_factory(engine)


@pytest_asyncio.fixture
async def pg(tmp_path: Path) -> AsyncIterator[tuple[str, SessionMaker]]:
    """A fresh PostgreSQL database only (for tests of several processes on one server):
    its URL, and sessions on it."""
    if reason := await dbs.postgres_unavailable():
        pytest.skip(reason)
    async with dbs.database_url("postgres", tmp_path) as url:
        eng = create_engine(url)
        yield url, session_factory(eng)
        await eng.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import asyncio

    try:
        asyncio.run(dbs.drop_template())
    except Exception:  # noqa: BLE001 - cleanup must not hide the test result
        pass


@pytest_asyncio.fixture
async def botapi() -> AsyncIterator[tuple[object, object]]:
    """(BotAPISimulator, aiogram Bot) with the default Telegram-like limits."""
    from tests.harness import simulated_bot

    async with simulated_bot() as pair:
        yield pair
