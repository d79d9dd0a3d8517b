"""Helpers for the proof-pack tests: a watched channel with a history, media files, a pack."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from chanwatch.keys import Signer, load_or_create
from chanwatch.pack import PackResult, build
from storage import changes, channels, ledger
from storage.db import SessionMaker, transaction
from storage.mediastore import MediaStore
from storage.models import Channel
from storage.observations import ChannelSeen, PostSeen, RestrictionSeen
from tests.support import channel_seen as _seen
from tests.support import png_bytes

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png">'


def store_media(media_dir: Path, data: bytes) -> str:
    """Write a file where the content-addressed media store keeps it; its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    path = MediaStore(media_dir).path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def seen_channel(at: datetime, **kw: object) -> ChannelSeen:
    return _seen(observed_at=at, about="about", photo_id=1, **kw)


async def history(sessions: SessionMaker, media_dir: Path) -> int:
    """A channel that posts, edits, is labelled FAKE and restricted, deletes a photo post."""

    async def add(s: AsyncSession) -> int:
        ch, _ = await channels.add_or_rewatch(
            s,
            tg_id=1001,
            access_hash=42,
            username="putdomoi",
            title="Путь домой",
            handle="@putdomoi",
            added_by=1,
        )
        return ch.id

    cid = await transaction(sessions, add)
    await transaction(sessions, lambda s: changes.observe_channel(s, cid, seen_channel(T0)))
    posts = [
        PostSeen(message_id=i, date=T0 + timedelta(hours=i), text=f"post {i} {HOSTILE}")
        for i in range(1, 6)
    ]
    posts.append(
        PostSeen(
            message_id=6, date=T0 + timedelta(hours=6), text="photo to vanish", media_kind="photo"
        )
    )
    await transaction(sessions, lambda s: changes.observe_posts(s, cid, posts, source="t/acc/poll"))
    edited = PostSeen(
        message_id=2, date=T0, text="post 2 rewritten", edit_date=T0 + timedelta(days=1)
    )
    await transaction(sessions, lambda s: changes.observe_posts(s, cid, [edited]))
    digest = store_media(media_dir, png())

    async def media(s: AsyncSession) -> None:
        ch = await s.get(Channel, cid)
        assert ch is not None
        await ledger.note_media(s, ch, 6, digest, len(png()), "image/png")

    await transaction(sessions, media)
    fake = seen_channel(
        T0 + timedelta(days=2),
        fake=True,
        restricted=True,
        restrictions=(RestrictionSeen("all", "ru", "This channel is blocked under local laws."),),
        participants=1300,
    )
    await transaction(sessions, lambda s: changes.observe_channel(s, cid, fake))
    await transaction(sessions, lambda s: changes.observe_deleted(s, cid, [6]))
    return cid


def signer(tmp: Path) -> Signer:
    return load_or_create(tmp / "keys" / "signing_key.pem")


async def make_pack(
    sessions: SessionMaker, tmp: Path, media_dir: Path, *, lang: str = "en"
) -> PackResult:
    return await build(
        sessions, "@putdomoi", signer(tmp), tmp / "putdomoi.zip", media_dir=media_dir, lang=lang
    )


def png() -> bytes:
    """A real PNG, big enough to see in a screenshot."""
    return png_bytes(160, 100)
