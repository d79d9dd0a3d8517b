"""One `chanwatch run` per SQLite file: a lock file next to the database, held for the
process's life.

SQLite serves one writer process; two runs on one file would both collect, route and
send, and step on each other. ``fcntl.flock`` belongs to the open file, so the kernel
drops it when the process ends in any way (kill -9 included): a stale lock file never
blocks the next start. PostgreSQL is shared by design and is not locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from storage.db import sqlite_path


class AlreadyRunning(Exception):
    """Another process holds this SQLite database."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def hold(database_url: str) -> Iterator[Path | None]:
    """Hold the database's lock for the block; the lock file's path, or None (not SQLite)."""
    database = sqlite_path(database_url)
    if database is None:
        yield None
        return
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise AlreadyRunning(
                f"another chanwatch (pid {holder}) is running on {database}; SQLite serves "
                "one process: stop that one first, or use PostgreSQL to run several"
            ) from None
        # The holder's pid, for the refusal above; the file itself is never removed, so
        # that two starts can never lock two different files of the same name.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the file releases the lock
