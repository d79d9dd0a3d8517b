"""Engine, sessions and the transaction helper every writer goes through."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Executable, event, func, inspect, select
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from storage.types import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
SessionMaker = async_sessionmaker[AsyncSession]


class DatabaseUnavailable(Exception):
    """The database did not answer within the retry budget."""


def sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    name = u.database
    if u.query.get("uri") and name.startswith("file:"):  # SQLite URI filenames
        if u.query.get("mode") == "memory":
            return None
        name = name.removeprefix("file:")
    return Path(name)


class DatabaseReadOnly(Exception):
    """The database refuses writes (a read-only file, folder or mount): not a passing outage."""


class DatabaseDamaged(Exception):
    """The SQLite file is not a database, or is damaged (e.g. truncated)."""


def ensure_sqlite_dir(url: str) -> None:
    """Create the SQLite file's folder (0700) and the file itself (0600) before SQLite does,
    so that chat ids, names and the audit log are not readable by others; SQLite gives its
    -wal and -shm files the database's mode. A clear error where it cannot be written."""
    path = sqlite_path(url)
    if path is None:
        return
    folder = path.parent.resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        elif path.stat().st_mode & 0o077:
            with contextlib.suppress(OSError):  # not ours to change: leave it, it still works
                os.chmod(path, 0o600)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"data directory {folder} is not writable ({exc.strerror or exc})"
        ) from None


def classify(exc: BaseException, url: str) -> Exception | None:
    """A database error the user must fix, as one of ours; None for anything else."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
    lowered = text.lower()
    where = sqlite_path(url) or mask_url(url)
    if "readonly database" in lowered or "read-only" in lowered:
        return DatabaseReadOnly(f"the database {where} is read-only ({text})")
    if "file is not a database" in lowered or "malformed" in lowered:
        return DatabaseDamaged(
            f"{where} is not a SQLite database, or is damaged ({text}); "
            "restore it from a backup or point DATABASE_URL elsewhere"
        )
    return None


def mask_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _json(value: Any) -> str:
    # Cyrillic as itself, not as six-byte escapes: the outbox's parts of a digest were
    # 233 MB instead of about half at 10,000 readers, written and read again.
    return json.dumps(value, ensure_ascii=False)


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = _create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, json_serializer=_json
        )
        _tune_sqlite(engine)
        return engine
    return _create_async_engine(
        url,
        echo=echo,
        json_serializer=_json,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"timeout": 10, "command_timeout": 60},
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's deferred BEGIN lets two writers
        # deadlock on lock upgrade, which busy_timeout cannot resolve.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front; readers stay deferred, which WAL
        # lets run beside a writer.
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False)


WRITE_OPTION = "chanwatch_write"
_write_locks: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def _writer_lock(sessions: SessionMaker) -> asyncio.Lock | None:
    """SQLite has one writer at a time: queue writers here, in order, instead of letting
    them poll SQLite's lock with sleeps."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite":
        return None
    lock = _write_locks.get(engine)
    if lock is None:
        lock = _write_locks[engine] = asyncio.Lock()
    return lock


def _is_transient(exc: BaseException) -> bool:
    if "readonly database" in str(exc):  # waiting will not make it writable
        return False
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def transaction(
    sessions: SessionMaker,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 8,
    first_delay: float = 0.2,
    max_delay: float = 5.0,
) -> T:
    """Run `work` in one transaction, retrying the whole of it while the database is away.

    `work` must be safe to run again: it sees a fresh session each time and
    nothing of a failed try is committed.
    """
    delay = first_delay
    lock = _writer_lock(sessions)
    for attempt in range(1, attempts + 1):
        try:
            async with contextlib.AsyncExitStack() as stack:
                if lock is not None:
                    await stack.enter_async_context(lock)
                session = await stack.enter_async_context(sessions())
                # The first use of the connection begins the transaction, as a writer.
                await session.connection(execution_options={WRITE_OPTION: True})
                result = await work(session)
                await session.commit()
                return result
        except Exception as exc:
            if not _is_transient(exc) or attempt == attempts:
                if _is_transient(exc):
                    raise DatabaseUnavailable(str(exc).splitlines()[0]) from exc
                raise
            log.warning(
                "database unavailable (try %d/%d): %s", attempt, attempts, str(exc).splitlines()[0]
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


def dialect_name(session: AsyncSession) -> str:
    """The database behind the session: "postgresql" or "sqlite"."""
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


async def database_now(session: AsyncSession) -> datetime:
    """The time by the database's clock, for what processes on several machines compare
    (leases, heartbeats): a machine whose clock runs ahead would otherwise see the others'
    leases run out and take what they hold. SQLite is one machine's: its clock is ours."""
    if dialect_name(session) == "postgresql":
        # now() is the transaction's start: one instant for the whole unit of work.
        at = await session.scalar(select(func.now()))
        if isinstance(at, datetime):
            return at.astimezone(UTC)
    return utcnow()


async def rows_matched(session: AsyncSession, stmt: Executable) -> int:
    """Run an UPDATE or DELETE; the number of rows it matched."""
    # AsyncSession.execute is typed as returning Result; for DML it is a CursorResult,
    # the class that carries rowcount.
    result = cast(CursorResult[Any], await session.execute(stmt))
    return result.rowcount


def _dialect_insert(session: AsyncSession) -> Any:
    if dialect_name(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


async def insert_ignore_rows(
    session: AsyncSession,
    model: type,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[Any],
) -> list[Any]:
    """Insert the rows that do not collide on the unique `conflict` columns; for each
    row written, the `returning` columns. Duplicates are skipped, never an error."""
    if not rows:
        return []
    stmt = (
        _dialect_insert(session)(model)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(*returning)
    )
    return list((await session.execute(stmt, [dict(r) for r in rows])).all())


async def insert_ignore_many(
    session: AsyncSession, model: type, rows: Sequence[Mapping[str, Any]], *, key: str
) -> list[int]:
    """Insert the rows whose unique `key` is not taken yet; their new ids."""
    found = await insert_ignore_rows(
        session,
        model,
        rows,
        conflict=[key],
        returning=[inspect(model).columns["id"]],
    )
    return [r[0] for r in found]


async def insert_ignore(
    session: AsyncSession, model: type, values: Mapping[str, Any], *, key: str
) -> int | None:
    """Insert a row unless one with the same unique `key` exists; the new id, or None."""
    ids = await insert_ignore_many(session, model, [values], key=key)
    return ids[0] if ids else None
