"""Peak memory of one `chanwatch run` process while a post fans out to all and a digest runs.

``chanwatch run`` is started as a user would (``python -m chanwatch run``) against the
simulated Bot API (limits lifted, so the fan-out is quick) and the simulated MTProto
world served over TCP, both in this process. The database holds a week seeded by
``bench.digest.seed_world`` (full: 1,000 watched channels, 10,000 subscribers, 100,000
posts; quick: 50, 200, 2,000); every eligible subscriber also follows one quiet
channel for its posts. The digest schedule is set so that the run at start catches up
a period that has just ended; once the channel is joined, one post appears in the
world. When every alert and every digest is sent, the child's own peak resident set
(``VmHWM`` in ``/proc/<pid>/status``: that process only, not the simulators) is read::

    BENCH memory_peak_<db> <MB> MB ratio=<250 / MB> vs 250 MB target

First, the floor: the peak of a process that only imports the three libraries every
`chanwatch run` holds (aiogram as chanwatch imports it, its models built on use)::

    BENCH memory_floor <MB> MB ratio=<250 / MB> vs 250 MB target
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from bench.common import database, headline, kinds_available
from bot.digest import DigestService
from bot.i18n import Translator
from chanwatch.settings import WEEKDAYS, Settings
from simulator.botapi import BotAPILimits, BotAPISimulator
from simulator.mtproto import World, WorldServer
from storage import kinds
from storage.db import SessionMaker, create_engine, session_factory, transaction
from storage.models import Channel, Delivery, DigestRun, Event, Subscriber, Subscription
from tests.seeds import channel_title, seed_world

TARGET_MB = 250.0
MODERATOR = 1001
ROOT = Path(__file__).resolve().parent.parent
# Every 17th seeded channel is quiet (bench.digest): its posts are only the one posted here.
FANOUT_CHANNEL = 17
TG_BASE = 1_000_000  # seed_world's tg_id of channel i is TG_BASE + i
# Telegram's limits lifted: the fan-out is bounded by chanwatch, not by the simulator.
LIFTED = BotAPILimits(
    per_chat_per_second=1000.0,
    per_chat_burst=1000,
    overall_per_second=100_000.0,
    overall_burst=100_000,
)


def peak_rss_mb(pid: int) -> float:
    """The process's own peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


FLOOR = (
    "from chanwatch.lazytypes import import_aiogram; import_aiogram(); "
    "import telethon, sqlalchemy.ext.asyncio; "
    "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
)


def floor_mb() -> float:
    """The peak RSS (MB) of a process that imports aiogram, Telethon and SQLAlchemy."""
    out = subprocess.run(
        [sys.executable, "-c", FLOOR],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    return int(out.stdout.split()[-1]) / 1024


def _world(channels: int) -> World:
    """The seeded channels as Telegram knows them (same ids, names, titles; no posts yet)."""
    world = World(service_messages=False)
    for i in range(1, channels + 1):
        world.create_channel(
            None if i % 7 == 0 else f"chan{i}",
            channel_title(i),
            participants=1000 * i,
            channel_id=TG_BASE + i,
        )
    return world


async def _prepare(
    sessions: SessionMaker, world: World, now: datetime, sizes: dict[str, int]
) -> str:
    """Seed the database; the digest schedule whose period has just ended (UTC)."""
    # Seeded activity reaches 6 h past the period's end: ending it 7 h ago keeps
    # every seeded post out of the collector's reconcile window (set small below).
    end = (now - timedelta(hours=7)).replace(second=0, microsecond=0)
    schedule = f"{','.join(WEEKDAYS)} {end:%H:%M}"
    settings = Settings(_env_file=None, timezone="UTC", digest_schedule=schedule)  # type: ignore[call-arg]
    period = DigestService(sessions, Translator.load(), settings).period_for(now)
    await seed_world(
        sessions,
        period.start,
        period.end,
        **sizes,
    )

    async def work(s: Any) -> None:
        for tg_id, model in world.channels.items():
            await s.execute(
                update(Channel).where(Channel.tg_id == tg_id).values(access_hash=model.access_hash)
            )
        fanout = FANOUT_CHANNEL
        # Polled before: what it posts next is news (a first poll archives quietly).
        await s.execute(
            update(Channel)
            .where(Channel.id == fanout)
            .values(next_poll_at=now - timedelta(minutes=1))
        )
        await s.execute(
            update(Subscription)
            .where(Subscription.channel_id == fanout)
            .values(event_kinds=["posts"])
        )
        following = select(Subscription.subscriber_id).where(Subscription.channel_id == fanout)
        others = await s.scalars(select(Subscriber.id).where(Subscriber.id.not_in(following)))
        rows = [
            {
                "subscriber_id": sid,
                "channel_id": fanout,
                "event_kinds": ["posts"],
                "keywords": [],
                "muted": False,
                "created_at": now,
            }
            for sid in others
        ]
        if rows:
            await s.execute(insert(Subscription), rows)

    await transaction(sessions, work)
    return schedule


def _env(db_url: str, sim: BotAPISimulator, server: WorldServer, schedule: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "BOT_", "DATABASE_", "MODERATOR_", "DELIVERY_"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": db_url,
            "BOT_TOKEN": sim.token,
            "BOT_API_BASE_URL": sim.base_url,
            "MTPROTO_SIMULATOR": server.url,
            "MODERATOR_IDS": str(MODERATOR),
            "TIMEZONE": "UTC",
            "DIGEST_SCHEDULE": schedule,
            # No catch-up at start: the moderator starts the digest once the fan-out runs.
            "DIGEST_GRACE_HOURS": "0",
            "DELIVERY_RATE": "1000",
            "DELIVERY_PAID_BROADCAST": "true",  # a rate above 30 is paid (the simulator is lifted)
            "DELIVERY_PER_CHAT_RATE": "100",
            "POLL_MIN_SECONDS": "5",
            "POLL_MAX_SECONDS": "30",
            "REFRESH_SECONDS": "3600",
            "RECONCILE_SECONDS": "3600",
            "RECONCILE_WINDOW_HOURS": "0.05",
            "LOG_LEVEL": os.environ.get("CHANWATCH_BENCH_LOG_LEVEL", "WARNING"),
        }
    )
    return env


async def _left(sessions: SessionMaker, event_id: int | None) -> tuple[bool, int]:
    """(the post fanned out to all and the digest run complete, deliveries left to send)."""
    async with sessions() as s:
        left = await s.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status.in_(("pending", "sending")))
        )
        if event_id is None:
            return False, left or 0
        routed = await s.scalar(select(Event.routed_at).where(Event.id == event_id))
        completed = await s.scalar(
            select(func.count()).select_from(DigestRun).where(DigestRun.completed_at.is_not(None))
        )
        alerts_left = await s.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.event_id == event_id, Delivery.status.in_(("pending", "sending")))
        )
    return routed is not None and bool(completed) and alerts_left == 0, left or 0


async def _progress(sessions: SessionMaker) -> str:
    async with sessions() as s:
        runs = (await s.execute(select(DigestRun.period_key, DigestRun.completed_at))).all()
        statuses = dict(
            (
                await s.execute(
                    select(Delivery.kind + ":" + Delivery.status, func.count()).group_by(
                        Delivery.kind, Delivery.status
                    )
                )
            ).all()
        )
        unrouted = await s.scalar(
            select(func.count()).select_from(Event).where(Event.routed_at.is_(None))
        )
    return f"digest runs {runs}, deliveries {statuses}, events not routed {unrouted}"


async def _fanning_out(sessions: SessionMaker, event_id: int) -> bool:
    async with sessions() as s:
        queued = await s.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.event_id == event_id)
        )
    return bool(queued)


def _press_yes(sim: BotAPISimulator) -> bool:
    """Confirm the moderator's /digest_run (its keyboard's first button is "yes")."""
    for msg in reversed(sim.received(MODERATOR)):
        for row in (msg.reply_markup or {}).get("inline_keyboard", []):
            for button in row:
                data = str(button.get("callback_data", ""))
                if "yes" in data:
                    sim.user_presses(MODERATOR, msg.message_id, data)
                    return True
    return False


async def _post_event(sessions: SessionMaker) -> int | None:
    async with sessions() as s:
        return await s.scalar(
            select(Event.id).where(Event.channel_id == FANOUT_CHANNEL, Event.kind == kinds.POST_NEW)
        )


async def measure(
    db: str, sizes: dict[str, int], timeout: float, drain: float
) -> tuple[float, dict[str, int]]:
    """Peak RSS (MB) of `chanwatch run`, and what it sent."""
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        world = _world(sizes["channels"])
        schedule = await _prepare(sessions, world, datetime.now(UTC), sizes)
        # Posted before chanwatch starts: its first poll of the channel finds it.
        world.post(TG_BASE + FANOUT_CHANNEL, "Срочно: пост для всех читателей")
        server = await WorldServer(world).start()
        sim = BotAPISimulator(limits=LIFTED)
        await sim.start()
        with tempfile.TemporaryDirectory(prefix="chanwatch-memory-") as workdir:
            log_path = Path(workdir) / "chanwatch.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "chanwatch", "run"],
                    cwd=workdir,
                    env=_env(url, sim, server, schedule),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                deadline = time.monotonic() + timeout
                event_id: int | None = None
                asked = confirmed = False
                drain_until: float | None = None
                while True:
                    done, left = await _left(sessions, event_id)
                    if done and drain_until is None:
                        # The digests go on being sent: some more of that is measured too.
                        drain_until = time.monotonic() + drain
                    if drain_until is not None and (left == 0 or time.monotonic() > drain_until):
                        break
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"chanwatch run exited ({proc.returncode}):\n"
                            + log_path.read_text(errors="replace")[-3000:]
                        )
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"not done within {timeout:.0f} s ({await _progress(sessions)}, "
                            f"post event: {event_id}):\n"
                            + log_path.read_text(errors="replace")[-3000:]
                        )
                    if event_id is None:
                        event_id = await _post_event(sessions)
                    elif not asked and await _fanning_out(sessions, event_id):
                        sim.user_sends(MODERATOR, "/digest_run")
                        asked = True
                    elif asked and not confirmed:
                        confirmed = _press_yes(sim)
                    await asyncio.sleep(0.5)
                peak = peak_rss_mb(proc.pid)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(10)
                await sim.stop()
                await server.close()
        async with sessions() as s:
            sent = dict(
                (
                    await s.execute(
                        select(Delivery.kind, func.count())
                        .where(Delivery.status == "sent")
                        .group_by(Delivery.kind)
                    )
                ).all()
            )
        await engine.dispose()
        return peak, sent


async def run(quick: bool) -> None:
    if quick:
        sizes = {"channels": 50, "posts": 2_000, "subscribers": 200}
    else:
        sizes = {"channels": 1_000, "posts": 100_000, "subscribers": 10_000}
    floor = floor_mb()
    headline(
        "memory_floor",
        floor,
        "MB",
        TARGET_MB / floor,
        f"{TARGET_MB:.0f} MB target (importing aiogram, telethon and sqlalchemy, nothing else)",
    )
    for db in await kinds_available():
        started = time.perf_counter()
        peak, sent = await measure(
            db, sizes, timeout=120 if quick else 900, drain=5 if quick else 60
        )
        headline(
            f"memory_peak_{db}",
            peak,
            "MB",
            TARGET_MB / peak,
            f"{TARGET_MB:.0f} MB target ({sizes['channels']} channels, "
            f"{sizes['subscribers']} subscribers)",
        )
        print(
            f"  {db}: sent {sent}; {time.perf_counter() - started:.0f} s with seeding",
            flush=True,
        )


def main(quick: bool) -> None:
    asyncio.run(run(quick))
