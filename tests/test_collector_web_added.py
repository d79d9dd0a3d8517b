"""Channels the web preview added (no access hash, maybe no id yet), later read by the account
alone: Telethon against the simulated world, which refuses a wrong access hash as Telegram
does (CHANNEL_INVALID)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import select
from telethon import TelegramClient, errors
from telethon.tl import functions, types

from chanwatch.telegram import CLIENT_OPTIONS
from collectors.collector import Collector
from collectors.downloads import DownloadConfig, Downloader
from collectors.flood import FloodGate
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from simulator.mtproto import World, make_simulated_client
from simulator.webpreview import WebPreviewSimulator
from storage import channels, media, status
from storage.db import SessionMaker
from storage.mediastore import MediaStore
from storage.models import Channel, Event, MediaFile, Post
from tests import support

RESOLVE = "ResolveUsernameRequest"


@pytest_asyncio.fixture
async def world() -> AsyncIterator[World]:
    world = World(service_messages=False)
    world.create_channel(username="alpha_ch", title="Alpha", participants=5_000)
    world.post("alpha_ch", "первый пост")
    world.create_channel(username="empty_ch", title="Empty", participants=10)
    yield world


async def _added_by_the_web(world: World, sessions: SessionMaker, names: list[str]) -> None:
    sim = WebPreviewSimulator(world)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            fetcher = Fetcher(http, sim.base_url, HostBudget(rate=1000.0))
            web = WebCollector(fetcher, sessions, support.QUICK_COLLECTOR)
            for name in names:
                channel, code = await web.watch(f"@{name}", added_by=1)
                assert code == "added" and channel is not None, code
    finally:
        await sim.stop()


async def _rows(sessions: SessionMaker) -> dict[str, Channel]:
    async with sessions() as s:
        return {c.username or c.title: c for c in await s.scalars(select(Channel))}


async def _files(sessions: SessionMaker) -> list[MediaFile]:
    async with sessions() as s:
        return list(await s.scalars(select(MediaFile).order_by(MediaFile.id)))


async def _events(sessions: SessionMaker) -> list[tuple[str, str]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Event.kind, Channel.title)
            .join(Channel, Channel.id == Event.channel_id)
            .order_by(Event.id)
        )
        return [(k, t) for k, t in rows.all()]


async def _passes(collector: Collector, n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0.06)  # past the polling interval: every poll is due again
        await collector.run_once()


async def test_the_simulated_world_refuses_a_wrong_access_hash(world: World) -> None:
    client: TelegramClient = make_simulated_client(world, **CLIENT_OPTIONS)  # type: ignore[arg-type]
    await client.connect()
    try:
        ch = world.channel("alpha_ch")
        for wrong in (0, ch.access_hash + 1):
            with pytest.raises(errors.ChannelInvalidError):
                await client(
                    functions.channels.GetChannelsRequest([types.InputChannel(ch.id, wrong)])
                )
            with pytest.raises(errors.ChannelInvalidError):
                await client.get_messages(types.InputPeerChannel(ch.id, wrong), limit=1)
    finally:
        await client.disconnect()


async def test_a_channel_the_web_added_is_resolved_once_then_read_by_the_account(
    world: World, sessions: SessionMaker, tmp_path: Path
) -> None:
    await _added_by_the_web(world, sessions, ["alpha_ch", "empty_ch"])
    before = await _rows(sessions)
    assert not before["alpha_ch"].access_hash and not before["empty_ch"].access_hash
    assert channels.is_pending(before["empty_ch"].tg_id)  # no message showed its id yet

    # The preview showed channel photos: files queued for the downloads, which read them
    # through the account.
    assert len(await _files(sessions)) == 2

    client = make_simulated_client(world, **CLIENT_OPTIONS)  # type: ignore[arg-type]
    store = MediaStore(tmp_path / "media")
    store.prepare()
    gate = FloodGate()
    downloads = Downloader(
        client, sessions, store, DownloadConfig(retry_base=0.0, idle_poll=0.0), gate=gate
    )
    collector = Collector(client, sessions, support.QUICK_COLLECTOR, gate=gate, downloads=downloads)
    downloads.peer_of = collector._peer  # as chanwatch.app wires them
    collector.attach()
    await client.connect()
    world.clear_requests_log()
    try:
        # Downloads may run before the collector's first pass: the files wait for the hash,
        # without a request and without counting a failed attempt.
        await downloads.run_pending()
        assert world.count_requests("GetChannelsRequest") == 0
        assert all(
            f.status == media.Status.PENDING and f.attempts == 0 for f in await _files(sessions)
        )
        await _passes(collector, 3)
        world.post("alpha_ch", "второй пост")
        world.post("empty_ch", "первый пост пустого")
        await _passes(collector, 3)
        await downloads.run_pending()
    finally:
        await collector.stop()
        await client.disconnect()

    rows = await _rows(sessions)
    for name in ("alpha_ch", "empty_ch"):
        assert rows[name].access_hash == world.channel(name).access_hash, name
        assert rows[name].tg_id == world.channel(name).id and rows[name].reachable, name
    # One resolve each, and nothing refused on the way: no false deletion.
    assert world.count_requests(RESOLVE) == 2
    assert await _events(sessions) == [("post.new", "Alpha"), ("post.new", "Empty")]
    # Then the downloads read the channels with the hash: the account's refresh queued
    # Telegram's own photos, stored now; the preview's photo key is not Telegram's photo id,
    # so its rows find "another photo now". No attempt failed on the way.
    files = await _files(sessions)
    assert sorted((f.role, f.status, f.attempts) for f in files) == [
        (media.CHANNEL_PHOTO, media.Status.LOST, 0),
        (media.CHANNEL_PHOTO, media.Status.LOST, 0),
        (media.CHANNEL_PHOTO, media.Status.STORED, 0),
        (media.CHANNEL_PHOTO, media.Status.STORED, 0),
    ]


async def test_a_channel_without_a_name_or_hash_is_one_log_line_and_shown_on_status(
    world: World, sessions: SessionMaker, caplog: pytest.LogCaptureFixture
) -> None:
    hidden = world.create_channel(username=None, title="Безымянный", participants=10)
    await support.watched_channel(sessions, tg_id=hidden.id, username=None, access_hash=None)
    client, collector = await support.connected(world, sessions)
    world.clear_requests_log()
    caplog.set_level(logging.WARNING, logger="collectors.collector")
    try:
        await _passes(collector, 4)
    finally:
        await collector.stop()
        await client.disconnect()
    # Not a request for it, not an event: one line, and the moderator's /status says so.
    for kind in (RESOLVE, "GetChannelsRequest", "GetFullChannelRequest", "GetHistoryRequest"):
        assert world.count_requests(kind) == 0, kind
    assert await _events(sessions) == []
    lines = [
        r.getMessage() for r in caplog.records if "no username and no access hash" in r.getMessage()
    ]
    assert len(lines) == 1, lines
    async with sessions() as s:
        report = await status.get(s, status.collector_row("default"))
    assert report is not None and report.data["unreadable"] == ["Путь домой"]


async def test_a_name_the_web_added_that_moved_to_another_channel_is_news_once(
    world: World, sessions: SessionMaker
) -> None:
    await _added_by_the_web(world, sessions, ["alpha_ch"])
    world.set_username("alpha_ch", None)
    impostor = world.create_channel(username="alpha_ch", title="Самозванец", participants=1)
    world.post(impostor, "чужой пост")
    client, collector = await support.connected(world, sessions)
    world.clear_requests_log()
    try:
        await _passes(collector, 4)
    finally:
        await collector.stop()
        await client.disconnect()
    assert world.count_requests(RESOLVE) == 1  # then not again every pass
    assert await _events(sessions) == [("channel.unavailable", "Alpha")]
    async with sessions() as s:
        (event,) = list(await s.scalars(select(Event)))
        texts = list(await s.scalars(select(Post.text)))
    assert event.payload["reason"] == "username_released"
    assert "чужой пост" not in texts  # the other channel's posts are not ours
