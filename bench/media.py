"""Media archiving: MB/s downloaded from the simulated Telegram through Telethon's own
download_media, and posts/s ingested with the download queue running beside the
collector vs without it (the queue must not slow ingestion: ratio ≥ 0.9)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import database, headline, kinds_available, watching
from chanwatch.telegram import CLIENT_OPTIONS
from collectors.collector import Collector, CollectorConfig
from collectors.downloads import DownloadConfig, Downloader
from collectors.flood import FloodGate
from simulator.mtproto import World, make_simulated_client
from storage.db import create_engine, session_factory
from storage.mediastore import MediaStore
from storage.models import MediaFile, Post

FILE_BYTES = 1024 * 1024
MIN_RATIO = 0.9


async def ingest(db: str, posts: int, media_dir: Path | None) -> tuple[float, float, int]:
    """(seconds to ingest `posts` photo posts, seconds until their files are stored, bytes)."""
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        world = World(service_messages=False)
        world.create_channel(username="putdomoi", title="Путь домой")
        client = make_simulated_client(world, **CLIENT_OPTIONS)
        gate = FloodGate()
        downloads = None
        if media_dir is not None:
            config = DownloadConfig(max_file_bytes=4 * FILE_BYTES, yield_to_alerts=0.0)
            downloads = Downloader(client, sessions, MediaStore(media_dir), config, gate=gate)
        collector = Collector(
            client, sessions, CollectorConfig(poll_min=0.01), gate=gate, downloads=downloads
        )
        channel = await watching(collector, downloads, "@putdomoi")
        for i in range(posts):
            world.post("putdomoi", f"пост {i}", media=world.photo(size=FILE_BYTES), push=False)
        started = time.perf_counter()
        await collector.poll(channel.id)
        ingested = time.perf_counter() - started
        async with sessions() as s:
            archived = await s.scalar(select(func.count()).select_from(Post))
        assert archived == posts, f"{archived} of {posts} posts archived"
        stored_bytes = 0
        if downloads is not None:
            deadline = time.perf_counter() + 600
            while time.perf_counter() < deadline:
                async with sessions() as s:
                    stored_bytes = (
                        await s.scalar(
                            select(func.coalesce(func.sum(MediaFile.stored_bytes), 0)).where(
                                MediaFile.role == "post", MediaFile.status == "stored"
                            )
                        )
                        or 0
                    )
                if stored_bytes >= posts * FILE_BYTES:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("downloads did not finish")
            await downloads.stop()
        drained = time.perf_counter() - started
        await collector.stop()
        await client.disconnect()
        await engine.dispose()
        return ingested, drained, int(stored_bytes)


async def run(quick: bool) -> None:
    posts = 40 if quick else 200
    for db in await kinds_available():
        # Alternated and repeated, best of each: the first run also pays for warming up.
        offs, ons = [], []
        for _ in range(2):
            offs.append((await ingest(db, posts, None))[0])
            with tempfile.TemporaryDirectory() as tmp:
                ons.append(await ingest(db, posts, Path(tmp)))
        off = min(offs)
        on, drained, stored = min(ons)
        mb_s = stored / FILE_BYTES / drained
        headline(
            f"media_archive_{db}",
            mb_s,
            "MB/s",
            mb_s / 10.0,
            f"10 MB/s ({posts} posts with 1 MB photos, through Telethon's download_media)",
        )
        ratio = (posts / on) / (posts / off)
        headline(
            f"media_ingest_{db}",
            posts / on,
            "posts/s",
            ratio / MIN_RATIO,
            f"{MIN_RATIO} × {posts / off:.1f} posts/s ingested with media archiving off",
        )


def main(quick: bool) -> None:
    asyncio.run(run(quick))
