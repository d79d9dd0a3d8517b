"""Run chanwatch as a user would: `chanwatch run` in a subprocess, real files, and the
simulated Telegram over its real interfaces (Bot API over HTTP, MTProto over TCP)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from simulator.botapi import BotAPISimulator
from simulator.mtproto import World, WorldServer
from storage.db import SessionMaker
from storage.models import Delivery, Event

ROOT = Path(__file__).resolve().parent.parent
MODERATOR = 1001


@dataclass
class Cluster:
    """The simulated Telegram in this process, chanwatch in a child process."""

    world: World
    server: WorldServer
    sim: BotAPISimulator
    db_url: str
    workdir: Path
    sessions: SessionMaker
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "BOT_", "DATABASE_", "MODERATOR_"))
        }
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "DATABASE_URL": self.db_url,
                "BOT_TOKEN": self.sim.token,
                "BOT_API_BASE_URL": self.sim.base_url,
                "MTPROTO_SIMULATOR": self.server.url,
                "MODERATOR_IDS": str(MODERATOR),
                "POLL_MIN_SECONDS": "0.5",
                "POLL_MAX_SECONDS": "1",
                "REFRESH_SECONDS": "1",
                "RECONCILE_SECONDS": "1",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        log = (self.workdir / f"chanwatch-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chanwatch", "run"],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:]
            for p in sorted(self.workdir.glob("chanwatch-*.log"))
        )

    async def until(
        self, what: str, check: Callable[[], Awaitable[bool] | bool], within: float = 60.0
    ) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"chanwatch exited ({self.proc.returncode}) while "
                    f"waiting for {what}\n{self.logs()}"
                )
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def replies(self, chat: int, count: int, what: str) -> None:
        target = len(self.sim.received(chat)) + count
        await self.until(what, lambda: len(self.sim.received(chat)) >= target)

    async def polling(self) -> None:
        before = self.sim.stats.requests["getUpdates"]
        await self.until("the bot to poll", lambda: self.sim.stats.requests["getUpdates"] > before)

    async def outbox_drained(self) -> bool:
        """Every event routed and every delivery finished."""
        async with self.sessions() as s:
            unrouted = await s.scalar(
                select(func.count()).select_from(Event).where(Event.routed_at.is_(None))
            )
            left = await s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status.in_(("pending", "sending")))
            )
        return unrouted == 0 and left == 0

    def press(self, user: int, prefix: str) -> None:
        """Press the newest button whose callback data starts with `prefix`."""
        for msg in reversed(self.sim.received(user)):
            for row in (msg.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if str(button.get("callback_data", "")).startswith(prefix):
                        self.sim.user_presses(user, msg.message_id, button["callback_data"])
                        return
        raise AssertionError(f"no button {prefix!r} in chat {user}")


@asynccontextmanager
async def running_cluster(
    world: World, db_url: str, workdir: Path, sessions: SessionMaker
) -> AsyncIterator[Cluster]:
    """The world served over TCP and a Bot API simulator, around a Cluster; all stopped after."""
    server = await WorldServer(world).start()
    sim = BotAPISimulator()
    await sim.start()
    c = Cluster(world, server, sim, db_url, workdir, sessions)
    try:
        yield c
    finally:
        c.stop()
        await sim.stop()
        await server.close()
