"""Collector processes on one PostgreSQL: throughput with 1, 2 and 3 accounts, and the
seconds from `kill -9` of one to the first post its successor collects.

Each process is `chanwatch run --role collector` with its own session (a simulated account
of its own) against the simulated Telegram over TCP. Throughput: every channel gets a burst
of posts at once (no joins, so all of it is polling) and the clock runs until every post is
an event. The ratio is to one process (higher is better).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import database, headline, postgres_available
from simulator.mtproto import World, WorldServer
from storage import channels, kinds
from storage.db import SessionMaker, create_engine, session_factory, transaction
from storage.models import Channel, ChannelAssignment, CollectorRow, Event

ROOT = Path(__file__).resolve().parent.parent


class CollectorProcesses:
    """`chanwatch run --role collector` processes, one per simulated account."""

    def __init__(self, url: str, world_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.url, self.world_url, self.workdir, self.extra = url, world_url, workdir, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.state = ""
        (workdir / "data").mkdir(exist_ok=True)

    def start(self, account: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "BOT_", "DATABASE_", "MODERATOR_"))
        }
        env.update(
            PYTHONPATH=str(ROOT),
            DATABASE_URL=self.url,
            MTPROTO_SIMULATOR=self.world_url,
            TELETHON_SESSION=f"data/{account}.session",
            COLLECTOR="telethon",
        )
        env.update(self.extra)
        log = (self.workdir / f"{account}.log").open("ab")
        self.procs[account] = subprocess.Popen(
            [sys.executable, "-m", "chanwatch", "run", "--role", "collector"],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self, account: str) -> None:
        proc = self.procs.pop(account)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.workdir.glob("*.log"))
        )

    async def until(self, what: str, check: Callable[[], Awaitable[bool]], within: float) -> None:
        deadline = time.monotonic() + within
        while not await check():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"collector {name} exited\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what} ({self.state})\n{self.logs()}")
            await asyncio.sleep(0.2)


async def holders(sessions: SessionMaker) -> dict[int, str]:
    """Telegram channel id -> the account holding it."""
    async with sessions() as s:
        rows = await s.execute(
            select(Channel.tg_id, CollectorRow.name)
            .join(ChannelAssignment, ChannelAssignment.channel_id == Channel.id)
            .join(CollectorRow, CollectorRow.id == ChannelAssignment.collector_id)
        )
        return {tg: name for tg, name in rows.all()}


async def seed_world(sessions: SessionMaker, n: int, *, per_account: bool) -> World:
    """A world of `n` public channels, all watched (with the first account's hashes)."""
    world = World(per_account_access_hash=per_account, service_messages=False)
    chans = [world.create_channel(f"chan{i:04d}", f"Канал {i}") for i in range(n)]
    for ch in chans:
        world.post(ch.id, f"old post of {ch.username}")

    async def seed(s: AsyncSession) -> None:
        for ch in chans:
            await channels.add_or_rewatch(
                s,
                tg_id=ch.id,
                access_hash=world.access_hash_for(ch, "acc1"),
                username=ch.username,
                title=ch.title,
                handle=f"@{ch.username}",
                added_by=None,
            )

    await transaction(sessions, seed)
    return world


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
    if not await postgres_available():
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
