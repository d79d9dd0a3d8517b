"""Builders the test modules share (test modules never import each other for these)."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import channels
from storage.db import SessionMaker, transaction
from storage.observations import ChannelSeen

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def watched_channel(
    sessions: SessionMaker, tg_id: int = 1001, username: str = "putdomoi"
) -> int:
    """A channel the collector watches, as `/watch` leaves it; its row id."""

    async def work(s: AsyncSession) -> int:
        ch, _ = await channels.add_or_rewatch(
            s,
            tg_id=tg_id,
            access_hash=42,
            username=username,
            title="Путь домой",
            handle=f"@{username}",
            added_by=1,
        )
        return ch.id

    return await transaction(sessions, work)


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
