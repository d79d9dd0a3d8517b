"""Collector processes for the scale-out test and benchmark: `chanwatch run --role collector`
subprocesses, one per simulated account, on one PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from simulator.mtproto import World
from storage import channels
from storage.db import SessionMaker, transaction
from storage.models import Channel, ChannelAssignment, CollectorRow

ROOT = Path(__file__).resolve().parent.parent


class CollectorProcesses:
    """`chanwatch run --role collector` processes, one per simulated account."""

    def __init__(self, url: str, world_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.url, self.world_url, self.workdir, self.extra = url, world_url, workdir, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.state = ""
        (workdir / "data").mkdir(exist_ok=True)

    def start(self, account: str, extra: dict[str, str] | None = None) -> None:
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
        env.update(extra or {})  # this process only
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
        stop_all(self.procs.values())
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.workdir.glob("*.log"))
        )

    async def until(self, what: str, check: Callable[[], Awaitable[bool]], within: float) -> None:
        started = time.monotonic()
        deadline = started + within
        while not await check():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"collector {name} exited\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what} ({self.state})\n{self.logs()}")
            await asyncio.sleep(0.2)
        # Shown with a failure (and with -s): where the time of a slow run went.
        print(f"{what}: {time.monotonic() - started:.1f}s", flush=True)


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


def stop_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process still running, then wait; kill what does not stop."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
