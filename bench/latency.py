"""Alert latency: from a post appearing in the simulated world to the subscriber's chat.

The whole road runs for real: a pushed MTProto update through Telethon's update loop,
the collector's change detection, routing into the outbox, the sender, aiogram over
HTTP to the simulated Bot API. The channel is joined, so this is the live-update path.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import database, headline, kinds_available, watching
from bot.delivery import Sender
from bot.i18n import Translator
from bot.routing import EventRouter
from chanwatch.app import settle_heap
from chanwatch.telegram import CLIENT_OPTIONS, build_bot
from collectors.collector import Collector, CollectorConfig
from collectors.downloads import Downloader
from collectors.flood import FloodGate
from simulator.botapi import BotAPISimulator
from simulator.mtproto import World, make_simulated_client
from storage.db import create_engine, session_factory, transaction
from storage.mediastore import MediaStore
from storage.models import MediaFile, Subscriber, Subscription

# Issue #16: post in the world -> subscriber's chat, joined channel.
TARGET_P50 = 0.080  # seconds
TARGET_P99 = 0.150  # seconds


async def measure(db: str, posts: int, subscribers: int, *, media: bool = False) -> list[float]:
    """Seconds from each post to the first subscriber's chat; with `media`, every post
    carries a 2 MB photo that the download queue archives meanwhile."""
    with tempfile.TemporaryDirectory() as media_dir:
        return await _measure(db, posts, subscribers, media, Path(media_dir))


async def _measure(
    db: str, posts: int, subscribers: int, media: bool, media_dir: Path
) -> list[float]:
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        world = World(service_messages=False)
        world.create_channel(username="putdomoi", title="Путь домой", participants=50_000)
        client = make_simulated_client(world, **CLIENT_OPTIONS)
        sim = BotAPISimulator()
        await sim.start()
        bot = build_bot(sim.token, sim.base_url)
        sender = Sender(bot, sessions)
        router = EventRouter(sessions, Translator.load(), notify=sender.wake)
        config = CollectorConfig(poll_max=600, refresh_every=600, reconcile_every=600)
        gate = FloodGate()
        downloads = (
            Downloader(client, sessions, MediaStore(media_dir), gate=gate) if media else None
        )
        collector = Collector(
            client, sessions, config, notify=router.wake, gate=gate, downloads=downloads
        )
        channel = await watching(collector, downloads, "@putdomoi")

        async def subscribe(s):  # type: ignore[no-untyped-def]
            for i in range(subscribers):
                sub = Subscriber(chat_id=5000 + i, language="ru")
                s.add(sub)
                await s.flush()
                s.add(
                    Subscription(
                        subscriber_id=sub.id,
                        channel_id=channel.id,
                        keywords=[],
                        event_kinds=["posts"],
                    )
                )

        await transaction(sessions, subscribe)
        await router.start()
        await sender.start()
        settle_heap()  # as chanwatch.app.start does
        watched_chat = 5000
        latencies: list[float] = []
        for i in range(posts):
            marker = f"замер-{i:04d}"
            photo = world.photo(size=2 * 1024 * 1024) if media else None
            before = len(sim.received(watched_chat))
            started = time.perf_counter()
            world.post("putdomoi", f"Пост {marker}", media=photo)
            deadline = started + 30
            while time.perf_counter() < deadline:
                got = sim.received(watched_chat)[before:]
                if any(marker in (m.text or "") for m in got):
                    break
                await asyncio.sleep(0.002)
            else:
                raise AssertionError(f"post {i} never reached the subscriber")
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(1.05)  # the subscriber's chat allows one message a second
        await collector.stop()
        if downloads is not None:
            await downloads.stop()
            async with sessions() as s:
                stored = await s.scalar(
                    select(func.count()).where(
                        MediaFile.status == "stored", MediaFile.role == "post"
                    )
                )
            assert stored == posts, f"{stored} of {posts} photos archived"
        await router.stop()
        await sender.stop()
        await client.disconnect()
        await bot.session.close()
        await sim.stop()
        await engine.dispose()
        return latencies


def _p50(latencies: list[float]) -> float:
    return statistics.median(latencies)


async def run(quick: bool) -> None:
    posts = 15 if quick else 60
    for db in await kinds_available():
        lat = sorted(await measure(db, posts, 20))
        with_media = await measure(db, posts, 20, media=True)
        # Downloads must not delay alerts: p50 with media archiving within 10 % of without.
        headline(
            f"alert_latency_media_p50_{db}",
            _p50(with_media) * 1000,
            "ms",
            _p50(lat) * 1.10 / _p50(with_media),
            f"p50 without media {_p50(lat) * 1000:.1f} ms + 10 % ({posts} posts with 2 MB photos)",
        )
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        headline(
            f"alert_latency_p50_{db}",
            p50 * 1000,
            "ms",
            TARGET_P50 / p50,
            f"{TARGET_P50 * 1000:.0f} ms target ({posts} posts, 20 subscribers)",
        )
        headline(
            f"alert_latency_p99_{db}",
            p99 * 1000,
            "ms",
            TARGET_P99 / p99,
            f"{TARGET_P99 * 1000:.0f} ms target ({posts} posts, 20 subscribers)",
        )


def main(quick: bool) -> None:
    asyncio.run(run(quick))
