"""Collector processes on one PostgreSQL: throughput with 1, 2 and 3 accounts, and the
seconds from `kill -9` of one to the first post its successor collects.

Each process is `chanwatch run --role collector` with its own session (a simulated account
of its own) against the simulated Telegram over TCP. Throughput: every channel gets a burst
of posts at once (no joins, so all of it is polling) and the clock runs until every post is
an event. The ratio is to one process (higher is better).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import database, headline, kinds_available
from simulator.mtproto import WorldServer
from storage import kinds
from storage.db import SessionMaker, create_engine, session_factory
from storage.models import Channel, Event
from tests.scaleoutkit import CollectorProcesses, holders, seed_world


async def _new_posts(sessions: SessionMaker) -> int:
    async with sessions() as s:
        n = await s.scalar(
            select(func.count()).select_from(Event).where(Event.kind == kinds.POST_NEW)
        )
    return int(n or 0)


async def _run(processes: int, n: int, burst: int, *, kill: bool = False) -> tuple[float, float]:
    """(posts per second with `processes` collectors, seconds from kill to successor's post)."""
    lease = 6.0
    env = {
        "JOIN_CAP": "0",
        "COLLECTOR_LEASE_SECONDS": str(lease),
        "POLL_MIN_SECONDS": "1",
        "POLL_MAX_SECONDS": "2",
        "REFRESH_SECONDS": "600",
        "RECONCILE_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
    }
    async with database("postgres") as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        world = await seed_world(sessions, n, per_account=False)
        server = await WorldServer(world).start()
        with tempfile.TemporaryDirectory() as tmp:
            procs = CollectorProcesses(url, server.url, Path(tmp), env)
            names = [f"acc{i + 1}" for i in range(processes)]
            try:
                for name in names:
                    procs.start(name)

                async def settled() -> bool:
                    held = await holders(sessions)
                    counts = [sum(1 for a in held.values() if a == name) for name in names]
                    async with sessions() as s:
                        fresh = await s.scalar(
                            select(func.count()).where(Channel.next_poll_at.is_(None))
                        )
                    return len(held) == n and max(counts) - min(counts) <= 1 and fresh == 0

                await procs.until("fair shares", settled, 300)
                base = await _new_posts(sessions)
                started = time.perf_counter()
                for ch in list(world.channels.values()):
                    for i in range(burst):
                        world.post(ch.id, f"burst {i}")

                async def all_in() -> bool:
                    return await _new_posts(sessions) >= base + n * burst

                await procs.until("every post", all_in, 300)
                rate = n * burst / (time.perf_counter() - started)
                successor = 0.0
                if kill:
                    held = await holders(sessions)
                    victim = names[-1]
                    theirs = [tg for tg, who in held.items() if who == victim]
                    base = await _new_posts(sessions)
                    killed = time.perf_counter()
                    procs.kill9(victim)
                    for tg in theirs:
                        world.post(tg, "after the kill")

                    async def first() -> bool:
                        return await _new_posts(sessions) > base

                    await procs.until("the successor's first post", first, 10 * lease)
                    successor = time.perf_counter() - killed
                return rate, successor
            finally:
                procs.stop()
                await server.close()
                await engine.dispose()


async def _main(quick: bool) -> None:
    if "postgres" not in await kinds_available():
        print("# scaleout: no PostgreSQL answers; skipped", flush=True)
        return
    n, burst = (60, 3) if quick else (300, 5)
    rates: dict[int, float] = {}
    successor = 0.0
    for processes in (1, 2, 3):
        rates[processes], gap = await _run(processes, n, burst, kill=processes == 2)
        successor = gap or successor
        print(
            f"# scaleout: {processes} collector processes, {n} channels, {n * burst} posts: "
            f"{rates[processes]:.1f} posts/s",
            flush=True,
        )
    for processes in (2, 3):
        headline(
            f"scaleout_throughput_{processes}proc",
            rates[processes],
            "posts/s",
            rates[processes] / rates[1],
            "1 collector process",
        )
    # Two leases (6 s each here) is the promise; the ratio is that limit over the time taken.
    headline("scaleout_kill_to_successor", successor, "s", 12.0 / successor, "2 leases (12 s)")


def main(quick: bool = False) -> None:
    asyncio.run(_main(quick))
