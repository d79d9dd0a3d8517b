"""Collector throughput for 1,000 watched channels through Telethon's own client code.

Polls every channel once after each channel has new posts, so every observation goes
the whole way: TL request, Telethon's parsing, change detection, events in the
database. CPU time includes the in-process simulated Telegram, so it is an upper
bound for the collector's own cost; the storage-only line shows the database share.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from sqlalchemy import func, select

from bench.common import database, headline, kinds_available
from chanwatch.telegram import CLIENT_OPTIONS
from collectors.collector import Collector, CollectorConfig
from simulator.mtproto import World, make_simulated_client
from storage import changes
from storage.db import create_engine, session_factory, transaction
from storage.models import Channel, Event
from storage.observations import PostSeen
from storage.types import utcnow

POLL_WINDOW = 60.0  # seconds: every channel should be polled within the minimum interval


async def through_telethon(db: str, channels: int, posts: int) -> None:
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        world = World(service_messages=False)
        for i in range(channels):
            world.create_channel(username=f"chan{i:05d}", title=f"Канал {i}", participants=1000)
        client = make_simulated_client(world, **CLIENT_OPTIONS)
        config = CollectorConfig(
            join_cap=0,
            concurrency=8,
            reconcile_every=1e9,
            refresh_every=1e9,
            poll_min=0.001,
            poll_max=0.001,
        )
        collector = Collector(client, sessions, config)
        await client.connect()
        for i in range(channels):
            channel, code = await collector.watch(f"@chan{i:05d}", None)
            assert channel is not None, code
        await collector.run_once()  # first refresh and the quiet backfill
        for i in range(channels):
            for j in range(posts):
                world.post(f"chan{i:05d}", f"Пост {j} о мобилизации и возвращении домой")
        ids = [c for c in (await _channel_ids(sessions))]
        started, cpu = time.perf_counter(), time.process_time()
        await collector._run_bounded([(c, partial(collector.poll, c)) for c in ids])
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        async with sessions() as s:
            recorded = await s.scalar(select(func.count()).select_from(Event))
        total = channels * posts
        assert recorded == total, f"{recorded} events for {total} posts"
        polls_per_s = channels / wall
        headline(
            f"collector_poll_{db}",
            total / wall,
            "posts/s",
            polls_per_s / (channels / POLL_WINDOW),
            f"{channels} channels polled within {POLL_WINDOW:.0f} s "
            f"({polls_per_s:.0f} polls/s, {1000 * cpu / total:.2f} ms CPU/post incl. simulator)",
        )
        await client.disconnect()
        await engine.dispose()


async def _channel_ids(sessions) -> list[int]:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return list(await s.scalars(select(Channel.id).order_by(Channel.id)))


async def storage_only(db: str, channels: int, posts: int) -> None:
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        from storage import channels as repo

        async def add(s):  # type: ignore[no-untyped-def]
            for i in range(channels):
                await repo.add_or_rewatch(
                    s,
                    tg_id=10_000 + i,
                    access_hash=1,
                    username=None,
                    title=f"c{i}",
                    handle="",
                    added_by=None,
                )

        await transaction(sessions, add)
        ids = await _channel_ids(sessions)
        now = utcnow()
        started, cpu = time.perf_counter(), time.process_time()
        for cid in ids:
            batch = [PostSeen(message_id=j + 1, date=now, text=f"Пост {j}") for j in range(posts)]
            await transaction(sessions, lambda s, b=batch, c=cid: changes.observe_posts(s, c, b))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        total = channels * posts
        headline(
            f"collector_observe_{db}",
            total / wall,
            "obs/s",
            (total / wall) / 1000.0,
            f"1000 obs/s baseline ({1000 * cpu / total:.2f} ms CPU/post, storage only)",
        )
        per_post = 1000 * cpu / total
        headline(
            f"ingest_cpu_{db}",
            per_post,
            "ms CPU/post",
            1.0 / max(per_post, 1e-9),
            "1.0 ms target (change detection and archive, observation log included)",
        )
        await engine.dispose()


async def run(quick: bool) -> None:
    channels, posts = (200, 5) if quick else (1000, 10)
    for db in await kinds_available():
        await through_telethon(db, channels, posts)
        await storage_only(db, channels, posts)


def main(quick: bool) -> None:
    asyncio.run(run(quick))
