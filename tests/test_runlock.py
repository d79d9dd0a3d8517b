"""SQLite serves one process: a second `chanwatch run` on the same file is refused with one
line, and a kill -9 of the first leaves nothing that blocks the next start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from chanwatch.runlock import AlreadyRunning, hold, lock_path
from simulator.mtproto import World
from storage.db import create_engine, session_factory
from tests import dbs
from tests.scenario import Cluster, running_cluster

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    world = World(service_messages=False)
    world.create_channel(username="putdomoi", title="Путь домой", about="", participants=10)
    async with dbs.database_url("sqlite", tmp_path) as url:
        engine = create_engine(url)
        try:
            async with running_cluster(world, url, tmp_path, session_factory(engine)) as c:
                yield c
        finally:
            await engine.dispose()


def second_run(c: Cluster) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chanwatch", "run"],
        cwd=c.workdir,
        env=c.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def running(c: Cluster) -> bool:
    return "chanwatch running" in c.logs()


async def test_second_run_on_one_sqlite_file_is_refused_until_the_first_is_killed(
    cluster: Cluster,
) -> None:
    c = cluster
    c.start()
    await c.until("the first chanwatch to run", lambda: running(c))
    assert c.proc is not None

    refused = second_run(c)
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    assert f"pid {c.proc.pid}" in lines[0] and "PostgreSQL" in lines[0], lines[0]
    assert "Traceback" not in refused.stdout + refused.stderr
    assert c.proc.poll() is None, "the first one keeps running"

    c.kill9()  # the kernel drops the lock with the process; the lock file stays behind
    c.start()
    await c.until(
        "a new chanwatch to run after kill -9", lambda: c.logs().count("chanwatch running") >= 2
    )
    c.stop()
    # A stop that needs more than the test's 15 s ends in SIGKILL (-9): the log says where.
    assert c.proc is not None and c.proc.returncode == 0, c.logs()[-3000:]


def test_lock_is_released_on_exit_and_postgresql_is_not_locked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cw.db'}"
    with hold(url) as path:
        assert path == lock_path(tmp_path / "data" / "cw.db")
        assert path.stat().st_mode & 0o777 == 0o600
        with pytest.raises(AlreadyRunning), hold(url):
            pass
    with hold(url):  # released with the first
        pass
    pg = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    with hold(pg) as first, hold(pg) as second:
        assert first is None and second is None
