"""Builders the test modules share (test modules never import each other for these)."""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from telethon import TelegramClient

from chanwatch.telegram import CLIENT_OPTIONS
from collectors.collector import Collector, CollectorConfig
from simulator.mtproto import World, make_simulated_client
from storage import channels
from storage.db import SessionMaker, transaction
from storage.observations import ChannelSeen

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# A collector that polls every few hundredths of a second and never reconciles on its own.
QUICK_COLLECTOR = CollectorConfig(
    poll_min=0.01, poll_max=0.05, refresh_every=3600, reconcile_every=0, backfill=20, tick=0.05
)


async def eventually(predicate: Callable[[], object], within: float = 3.0) -> None:
    """Wait until `predicate()` is true; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def connected(world: World, sessions: SessionMaker) -> tuple[TelegramClient, Collector]:
    """A collector on Telethon's own client, connected to the simulated `world`."""
    client = make_simulated_client(world, **CLIENT_OPTIONS)
    collector = Collector(client, sessions, QUICK_COLLECTOR)
    collector.attach()
    await client.connect()
    return client, collector


async def watched_channel(
    sessions: SessionMaker,
    tg_id: int = 1001,
    username: str = "putdomoi",
    *,
    access_hash: int | None = 42,
    added_by: int | None = 1,
) -> int:
    """A channel the collector watches, as `/watch` (or, with `added_by=None`, the CLI)
    leaves it; its row id."""

    async def add(s: AsyncSession) -> int:
        channel, _ = await channels.add_or_rewatch(
            s,
            tg_id=tg_id,
            access_hash=access_hash,
            username=username,
            title="Путь домой",
            handle=f"@{username}",
            added_by=added_by,
        )
        return channel.id

    return await transaction(sessions, add)


def channel_seen(**kw: object) -> ChannelSeen:
    """The API's full record of the channel `watched_channel` adds; `kw` overrides fields."""
    base: dict[str, object] = dict(
        tg_id=1001,
        observed_at=T0,
        title="Путь домой",
        username="putdomoi",
        username_known=True,
        about="",
        participants=1000,
        fake=False,
        scam=False,
        verified=False,
        restricted=False,
        restrictions=(),
    )
    base.update(kw)
    return ChannelSeen(**base)  # type: ignore[arg-type]


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real, tiny PNG (Telegram and browsers read its size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# Debian's libfaketime: a process whose wall clock runs ahead of everyone's, for real.
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def clock_ahead(offset: str) -> dict[str, str]:
    """Environment for a child process whose wall clock runs `offset` (e.g. "+60s") ahead."""
    return {
        "LD_PRELOAD": ":".join(filter(None, [str(FAKETIME), os.environ.get("LD_PRELOAD")])),
        "FAKETIME": offset,
        # Only the wall clock runs ahead; asyncio's timers keep their steady clock.
        "DONT_FAKE_MONOTONIC": "1",
    }
