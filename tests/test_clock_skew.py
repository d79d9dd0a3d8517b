"""Two collector processes on one PostgreSQL, one on a machine whose clock runs ahead.

The run ahead is real: the second `chanwatch run --role collector` runs under libfaketime
(Debian's `faketime`), its wall clock 45 s ahead of everyone's, more than two leases. Leases
and heartbeats are counted by the database's clock, so it neither takes the first
collector's channels (whose heartbeat it would see as 45 s old: dead) nor keeps them: the
channels are shared fairly, and each is read by one account at a time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from simulator.mtproto import WorldServer
from storage.db import SessionMaker
from tests.scaleoutkit import CollectorProcesses, holders, seed_world
from tests.support import FAKETIME, clock_ahead

CHANNELS = 12
LEASE = 15.0
AHEAD = "+45s"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not FAKETIME.exists(), reason="Debian's faketime is not installed"),
]


async def test_a_collector_whose_clock_runs_ahead_takes_no_more_than_its_share(
    pg: tuple[str, SessionMaker], tmp_path: Path
) -> None:
    url, sessions = pg
    world = await seed_world(sessions, CHANNELS, per_account=True)
    server = await WorldServer(world).start()
    procs = CollectorProcesses(
        url,
        server.url,
        tmp_path,
        {
            "COLLECTOR_LEASE_SECONDS": str(LEASE),
            "POLL_MIN_SECONDS": "5",
            "POLL_MAX_SECONDS": "20",
            "LOG_LEVEL": "INFO",
        },
    )
    ahead = clock_ahead(AHEAD)
    try:
        procs.start("acc1")

        async def all_held() -> bool:
            return len(await holders(sessions)) == CHANNELS

        await procs.until("acc1 holds every channel", all_held, 60)
        procs.start("acc2", ahead)

        async def fair() -> bool:
            counts = Counter((await holders(sessions)).values())
            procs.state = f"holders {dict(counts)}"
            return counts == Counter({"acc1": CHANNELS // 2, "acc2": CHANNELS // 2})

        await procs.until("a fair share each", fair, 4 * LEASE)
        # And it stays so, round after round: the one ahead never sees the other as dead.
        for _ in range(int(2 * LEASE)):
            assert await fair(), procs.state
            await asyncio.sleep(1)
    finally:
        procs.stop()
        await server.close()
