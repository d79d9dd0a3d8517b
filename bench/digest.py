"""Benchmark: build the weekly digest for many readers, on SQLite and PostgreSQL.

``main(quick)`` seeds a week (full: 500 channels, 100,000 posts, 10,000 readers
following about 10 channels each; quick: 50 channels, 10,000 posts, 1,000
readers) with bulk inserts, then times ``DigestService.run_period`` and prints::

    BENCH digest_build_<db> <seconds> s ratio=<10 s / seconds> vs 10 s target

At ``--quick`` the line is named ``digest_build_quick_<db>`` and its ratio is against
the target scaled to the quick size (a tenth of the readers, channels and posts: 1 s),
so that a quick run never reads as the full-size target met.

PostgreSQL runs when the tests' server (``CHANWATCH_TEST_PG_URL``, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) answers; a temporary
database is created and dropped.

The week is ``tests.seeds.seed_world``, the digest tests' own seeder at benchmark size.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import database, headline, kinds_available
from storage.db import create_engine, session_factory
from tests.seeds import NOW, SCHEDULE, TIMEZONE, seed_world

TARGET_S = 10.0  # issue #16: 10,000 readers x 500 channels x 100,000 posts
FULL = {"channels": 500, "posts": 100_000, "subscribers": 10_000}
QUICK = {"channels": 50, "posts": 10_000, "subscribers": 1_000}


# --------------------------------------------------------------------------- running


async def _run(url: str, label: str, sizes: dict[str, int]) -> None:
    from bot.digest import DigestService
    from bot.i18n import Translator
    from chanwatch.settings import Settings

    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            timezone=TIMEZONE,
            digest_schedule=SCHEDULE,
        )
        service = DigestService(sessions, Translator.load(), settings, clock=lambda: NOW)
        period = service.period_for(NOW)
        t0 = time.perf_counter()
        world = await seed_world(
            sessions,
            period.start,
            period.end,
            **sizes,
        )
        seeded = time.perf_counter() - t0
        t0 = time.perf_counter()
        enqueued = await service.run_period(period)
        took = time.perf_counter() - t0
        scale = sizes["subscribers"] / FULL["subscribers"]
        target = TARGET_S * scale
        if scale == 1:
            headline(f"digest_build_{label}", took, "s", target / took, f"{target:.0f} s target")
        else:
            headline(
                f"digest_build_quick_{label}",
                took,
                "s",
                target / took,
                f"{target:.2g} s ({TARGET_S:.0f} s target scaled to {scale:.0%} of the size)",
            )
        print(
            f"  {label}: {enqueued} digests for {len(world.eligible)} eligible of "
            f"{sizes['subscribers']} subscribers, {sizes['channels']} channels, "
            f"{sizes['posts']} posts; {enqueued / took:.0f} subscribers/s; seeding {seeded:.1f} s"
        )
    finally:
        await engine.dispose()


async def _main(quick: bool) -> None:
    sizes = QUICK if quick else FULL
    kinds = await kinds_available()
    if "postgres" not in kinds:
        print("  postgres: skipped, the test server does not answer")
    for kind in kinds:
        async with database(kind) as url:
            await _run(url, kind, sizes)


def main(quick: bool) -> None:
    asyncio.run(_main(quick))


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv[1:])
