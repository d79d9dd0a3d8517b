"""Databases for benchmarks (the tests' own: a temp SQLite file, and PostgreSQL when the
tests' server answers) and the one BENCH line format."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests import dbs

if TYPE_CHECKING:
    from collectors.collector import Collector
    from collectors.downloads import Downloader
    from storage.models import Channel


@asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    """A fresh migrated database URL of `kind` ("sqlite" or "postgres"), dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="chanwatch-bench-") as tmp:
        try:
            async with dbs.database_url(kind, Path(tmp)) as url:
                yield url
        finally:
            # A benchmark is its own process: nothing else drops the PostgreSQL template.
            await dbs.drop_template()


async def kinds_available() -> list[str]:
    return ["sqlite", "postgres"] if await dbs.postgres_unavailable() is None else ["sqlite"]


async def watching(collector: Collector, downloads: Downloader | None, name: str) -> Channel:
    """Start the collector (and its downloads) watching channel `name`, its first look done."""
    await collector.start()
    if downloads is not None:
        await downloads.start()
    channel, code = await collector.watch(name, None)
    assert channel is not None, code
    await collector.run_once()
    return channel


def headline(name: str, value: float, unit: str, ratio: float, versus: str) -> None:
    print(f"BENCH {name} {value:.4g} {unit} ratio={ratio:.3f} vs {versus}", flush=True)
