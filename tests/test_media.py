"""Media archived through Telethon's own download_media from the simulated Telegram, and
the alerts that carry it through the simulated Bot API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from sqlalchemy import func, select
from telethon import TelegramClient

from bot.delivery import Sender
from bot.i18n import Translator
from bot.routing import EventRouter
from chanwatch.telegram import CLIENT_OPTIONS
from collectors.collector import Collector
from collectors.downloads import DownloadConfig, Downloader
from collectors.flood import FloodGate
from simulator.botapi import BotAPISimulator
from simulator.mtproto import World, make_simulated_client
from storage import kinds, media
from storage.db import SessionMaker, transaction
from storage.mediastore import MediaStore
from storage.models import Event, LogRecord, MediaFile, Post, Subscriber, Subscription
from tests.support import QUICK_COLLECTOR

MB = 1 << 20


@dataclass
class Rig:
    world: World
    client: TelegramClient
    collector: Collector
    downloads: Downloader
    store: MediaStore
    sessions: SessionMaker

    async def collect(self) -> None:
        await asyncio.sleep(0.1)  # pushed updates land first
        await self.collector.run_once()

    async def download(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            if not await self.downloads.run_pending():
                return

    async def files(self) -> list[MediaFile]:
        async with self.sessions() as s:
            return list(
                await s.scalars(
                    select(MediaFile).where(MediaFile.role == media.POST).order_by(MediaFile.id)
                )
            )


def _rig_parts(world: World, sessions: SessionMaker, root: Path, **config: object) -> Rig:
    client = make_simulated_client(world, **CLIENT_OPTIONS)
    store = MediaStore(root)
    gate = FloodGate()
    downloads = Downloader(
        client,
        sessions,
        store,
        DownloadConfig(retry_base=0.0, **config),
        gate=gate,  # type: ignore[arg-type]
    )
    collector = Collector(client, sessions, QUICK_COLLECTOR, gate=gate, downloads=downloads)
    collector.attach()
    return Rig(world, client, collector, downloads, store, sessions)


@pytest_asyncio.fixture
async def rig(sessions: SessionMaker, tmp_path: Path) -> AsyncIterator[Rig]:
    world = World(service_messages=False)
    world.create_channel(username="putdomoi", title="Путь домой", participants=38_000)
    world.create_channel(username="sovet_materei", title="Совет матерей и жён")
    parts = _rig_parts(world, sessions, tmp_path / "media")
    await parts.client.connect()
    parts.store.prepare()
    channel, code = await parts.collector.watch("@putdomoi", added_by=1)
    assert channel is not None, code
    await parts.collect()
    yield parts
    await parts.collector.stop()
    await parts.client.disconnect()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_forwarded_album_is_archived_whole_and_its_deletion_alert_shows_the_photo(
    rig: Rig, botapi: tuple[BotAPISimulator, object]
) -> None:
    w = rig.world
    photo = w.photo(b"\xff\xd8 widow's photo \xff\xd9" * 300)
    video = w.video(size=30 * MB, duration=552.0)
    source_post = w.post("sovet_materei", "Обращение")
    caption = "Подпишите петицию"
    ids = w.post_album(
        "putdomoi",
        [
            {
                "media": photo,
                "text": caption,
                "entities": [
                    {"type": "texturl", "part": "петицию", "url": "https://example.org/p"}
                ],
                "forward_from": {"channel": "@sovet_materei", "post": source_post},
            },
            {"media": video, "forward_from": {"channel": "@sovet_materei", "post": source_post}},
        ],
    )
    await rig.collect()
    await rig.download()

    files = {f.message_id: f for f in await rig.files()}
    assert files[ids[0]].status == media.Status.STORED
    assert files[ids[0]].sha256 == w.media_sha256(photo)
    assert rig.store.read(files[ids[0]].sha256 or "") == w.media_bytes(photo)
    assert files[ids[1]].status == media.Status.TOO_LARGE
    assert files[ids[1]].size == 30 * MB
    assert files[ids[1]].thumb_sha256 == w.media_sha256(video, thumb="m")
    async with rig.sessions() as s:
        first = await s.scalar(select(Post).where(Post.message_id == ids[0]))
    assert first is not None
    [link] = [e for e in first.details["entities"] if e["kind"] == "texturl"]
    assert link["url"] == "https://example.org/p"
    assert first.details["forward"]["from_channel_id"] == w.channel("sovet_materei").id
    assert first.details["forward"]["message_id"] == source_post

    # Deleted without an update: the reconcile sweep finds it, one alert with the photo.
    sim, bot = botapi

    async def subscribe(s):  # type: ignore[no-untyped-def]
        sub = Subscriber(chat_id=555, language="ru")
        s.add(sub)
        await s.flush()
        post = await s.scalar(select(Post).where(Post.message_id == ids[0]))
        s.add(
            Subscription(
                subscriber_id=sub.id, channel_id=post.channel_id, event_kinds=["deletions"]
            )
        )

    await transaction(rig.sessions, subscribe)
    w.delete("putdomoi", ids, push=False)
    await rig.collector.reconcile(first.channel_id)
    async with rig.sessions() as s:
        deleted = list(await s.scalars(select(Event).where(Event.kind == kinds.POST_DELETED)))
    assert len(deleted) == 1 and deleted[0].payload["album_size"] == 2
    await EventRouter(rig.sessions, Translator.load()).route_pending()
    await Sender(bot, rig.sessions, per_chat=1000, media_store=rig.store).drain_once()  # type: ignore[arg-type]
    [alert, *_] = sim.received(555)
    assert alert.method == "sendPhoto"
    assert _sha(alert.photo or b"") == w.media_sha256(photo)
    assert caption in (alert.caption or "")


async def test_a_post_deleted_before_its_file_was_fetched_is_lost_but_one_seen_keeps_it(
    rig: Rig, sessions: SessionMaker, tmp_path: Path
) -> None:
    w = rig.world
    seen_first = w.photo(b"kept" * 1000)
    mid = w.post("putdomoi", "скоро удалят", media=seen_first)
    await rig.collect()  # the collector saw the message: its file can still be fetched
    w.delete("putdomoi", [mid])
    await rig.download()
    [kept] = await rig.files()
    assert kept.status == media.Status.STORED and kept.sha256 == w.media_sha256(seen_first)

    # After a restart nothing of the message is remembered: Telegram has it no more.
    gone_photo = w.photo(b"gone" * 1000)
    mid2 = w.post("putdomoi", "удалят сразу", media=gone_photo)
    await rig.collect()
    restarted = _rig_parts(w, sessions, tmp_path / "media")
    await restarted.client.connect()
    w.delete("putdomoi", [mid2])
    await restarted.download()
    await restarted.client.disconnect()
    gone = [f for f in await rig.files() if f.message_id == mid2]
    assert [f.status for f in gone] == [media.Status.LOST]


async def test_flood_waits_and_an_expired_reference_still_end_with_every_file(rig: Rig) -> None:
    w = rig.world
    photos = [w.photo(f"photo {i}".encode() * 500) for i in range(3)]
    for i, p in enumerate(photos):
        w.post("putdomoi", f"пост {i}", media=p)
    await rig.collect()
    w.flood_wait("GetFileRequest", 1)
    w.expire_file_reference(photos[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        await rig.download()
        if all(f.status == media.Status.STORED for f in await rig.files()):
            break
        await asyncio.sleep(0.3)  # the flood wait is a real second
    assert sorted(f.sha256 for f in await rig.files()) == sorted(w.media_sha256(p) for p in photos)
    assert rig.downloads.gate.total.get("GetFileRequest") == 1


async def test_identical_bytes_are_stored_once_and_no_partial_file_is_left(rig: Rig) -> None:
    w = rig.world
    data = b"same bytes" * 2000
    for i in range(3):
        w.post("putdomoi", f"копия {i}", media=w.photo(data))
    await rig.collect()
    await rig.download()
    files = await rig.files()
    assert {f.sha256 for f in files} == {_sha(data)} and len(files) == 3
    async with rig.sessions() as s:
        every = set(await s.scalars(select(MediaFile.sha256)))  # the avatar's too
    stored = [p for p in rig.store.root.rglob("*") if p.is_file()]
    assert sorted(p.name for p in stored) == sorted(every)  # each file once, no leftovers
    assert rig.store.path(_sha(data)) in stored
    async with rig.sessions() as s:
        records = [json.loads(r.record) for r in await s.scalars(select(LogRecord))]
    # Each file kept is in the observation log, with the post that showed it.
    logged = {(r["message_id"], r["sha256"]) for r in records if "sha256" in r and r["message_id"]}
    assert logged == {(f.message_id, f.sha256) for f in files}
    assert oct(rig.store.root.stat().st_mode & 0o777) == "0o700"


async def test_edits_through_telegram_are_named_by_what_changed(rig: Rig) -> None:
    w = rig.world
    link = [{"type": "texturl", "part": "здесь", "url": "https://a.example"}]
    mid = w.post("putdomoi", "Читайте здесь", media=w.photo(b"one" * 100), entities=link)
    await rig.collect()
    w.edit("putdomoi", mid, media=w.photo(b"two" * 100))
    await rig.collect()
    w.edit("putdomoi", mid, entities=[{**link[0], "url": "https://b.example"}])
    await rig.collect()
    bold = {"type": "bold", "part": "Читайте"}
    w.edit("putdomoi", mid, entities=[{**link[0], "url": "https://b.example"}, bold])
    await rig.collect()
    w.edit("putdomoi", mid, media=None)
    await rig.collect()
    await rig.collect()  # seeing it again changes nothing
    async with rig.sessions() as s:
        edits = list(
            await s.scalars(select(Event).where(Event.kind == kinds.POST_EDITED).order_by(Event.id))
        )
        versions = await s.scalar(select(func.count()).select_from(Post).where(Post.version == 5))
    assert [e.payload["changes"] for e in edits] == [
        ["media_replaced"],
        ["links"],
        ["formatting"],
        ["media_removed"],
    ]
    assert versions == 1
