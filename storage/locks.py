"""chanwatch's PostgreSQL advisory locks, listed once so that no two uses share a key.

Each is a transaction lock: held until commit or rollback. SQLite needs none of them, as
its writers are serialized already.
"""

from __future__ import annotations

from enum import IntEnum, unique

from sqlalchemy.ext.asyncio import AsyncSession


@unique
class Lock(IntEnum):
    MIGRATION = 7411  # one process migrates, the others wait
    LOG = 7412  # the observation log's chain: one appender at a time
    DIVISION = 7413  # the collectors' division of the channels
    WATCH_REQUESTS = 7414  # one pending request per name asked by /watch
    CLAIM = 7415  # the outbox's claims: each sees the rows the one before it took


async def hold(session: AsyncSession, lock: Lock) -> None:
    """Take ``lock`` until the session's transaction ends (PostgreSQL only).

    Its own statement: a READ COMMITTED statement's snapshot is taken when it starts, so
    a read in the same statement could miss what was committed while it waited.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        conn = await session.connection()
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(lock)})")
