"""Media rows: which post or channel showed a file, and where fetching it stands.

A row is `pending` from the moment its post is archived (same transaction), then one of
`stored` (its bytes are in the store), `too_large` (over MEDIA_MAX_MB: its largest
thumbnail is kept, and Telegram's recorded size), `lost` (the post was gone before the
file could be fetched), `failed` (with the error, after retries), or `skipped` (a kind
MEDIA_KINDS leaves out, or the store is full).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_ignore_rows
from storage.models import MediaFile
from storage.observations import MediaSeen
from storage.types import utcnow

# Kinds whose bytes Telegram serves; polls, locations and link previews have none.
DOWNLOADABLE = ("photo", "video", "round", "gif", "audio", "voice", "sticker", "document")
POST = "post"
CHANNEL_PHOTO = "channel_photo"
UNIQUE = ("channel_id", "message_id", "role", "tg_id")


class Status(StrEnum):
    PENDING = "pending"
    STORED = "stored"
    TOO_LARGE = "too_large"
    LOST = "lost"
    FAILED = "failed"
    SKIPPED = "skipped"


def _pending(channel_id: int, now: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        **fields,
    }


def post_row(
    channel_id: int, post_id: int, message_id: int, media: MediaSeen, now: datetime
) -> dict[str, Any] | None:
    """The queue row for a post's file, or None for media without bytes."""
    if media.kind not in DOWNLOADABLE:
        return None
    return _pending(
        channel_id,
        now,
        post_id=post_id,
        message_id=message_id,
        role=POST,
        tg_id=media.tg_id or 0,
        kind=media.kind,
        mime_type=media.mime_type,
        size=media.size,
    )


def channel_photo_row(channel_id: int, photo_id: int, now: datetime) -> dict[str, Any]:
    return _pending(
        channel_id,
        now,
        post_id=None,
        message_id=0,
        role=CHANNEL_PHOTO,
        tg_id=photo_id,
        kind="photo",
        mime_type="image/jpeg",
        size=None,
    )


async def enqueue(session: AsyncSession, rows: Iterable[dict[str, Any] | None]) -> int:
    """Queue files not queued before; how many were new."""
    wanted = [r for r in rows if r is not None]
    found = await insert_ignore_rows(
        session, MediaFile, wanted, conflict=UNIQUE, returning=[MediaFile.id]
    )
    return len(found)


async def due(
    session: AsyncSession, limit: int, *, channel_ids: Collection[int] | None = None
) -> list[MediaFile]:
    """Pending rows whose time has come, oldest first; only these channels' where given."""
    stmt = (
        select(MediaFile)
        .where(MediaFile.status == Status.PENDING, MediaFile.next_attempt_at <= utcnow())
        .order_by(MediaFile.id)
        .limit(limit)
    )
    if channel_ids is not None:
        stmt = stmt.where(MediaFile.channel_id.in_(list(channel_ids)))
    return list(await session.scalars(stmt))


async def finish(
    session: AsyncSession,
    media_id: int,
    status: Status,
    *,
    sha256: str | None = None,
    stored_bytes: int | None = None,
    thumb_sha256: str | None = None,
    size: int | None = None,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "error": error, "stored_at": utcnow()}
    if sha256 is not None:
        values.update(sha256=sha256, stored_bytes=stored_bytes)
    if thumb_sha256 is not None:
        values["thumb_sha256"] = thumb_sha256
    if size is not None:
        values["size"] = size
    await session.execute(update(MediaFile).where(MediaFile.id == media_id).values(**values))


async def retry_later(
    session: AsyncSession, media_id: int, delay: float, error: str, *, count: bool = True
) -> None:
    """Due again after `delay`; `count` says whether this was a failed attempt (a flood wait
    or a full store is not)."""
    await session.execute(
        update(MediaFile)
        .where(MediaFile.id == media_id)
        .values(
            attempts=MediaFile.attempts + (1 if count else 0),
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            error=error[:2000],
        )
    )


async def photo_for(
    session: AsyncSession, post_ids: Sequence[int]
) -> tuple[str, str | None] | None:
    """(SHA-256, mime type) of the first stored photo among these posts, in their order."""
    if not post_ids:
        return None
    rows = await session.execute(
        select(MediaFile.post_id, MediaFile.sha256, MediaFile.thumb_sha256, MediaFile.mime_type)
        .where(MediaFile.post_id.in_(list(post_ids)), MediaFile.kind == "photo")
        .where(MediaFile.status.in_((Status.STORED, Status.TOO_LARGE)))
    )
    found = {post_id: (sha or thumb, mime) for post_id, sha, thumb, mime in rows.all()}
    for post_id in post_ids:
        if post_id in found and found[post_id][0]:
            sha, mime = found[post_id]
            assert sha is not None
            return sha, mime
    return None


async def channel_photo(session: AsyncSession, channel_id: int, photo_id: int) -> str | None:
    """SHA-256 of a channel avatar, if it was archived."""
    return await session.scalar(
        select(MediaFile.sha256).where(
            MediaFile.channel_id == channel_id,
            MediaFile.role == CHANNEL_PHOTO,
            MediaFile.tg_id == photo_id,
            MediaFile.status == Status.STORED,
        )
    )


async def summary(session: AsyncSession) -> dict[str, int]:
    """Rows per status and the bytes stored, for /status."""
    counted = await session.execute(
        select(MediaFile.status, func.count()).group_by(MediaFile.status)
    )
    out = {str(status): int(count) for status, count in counted.all()}
    # Identical files are stored once, so each hash counts once.
    files = (
        select(MediaFile.sha256, func.max(MediaFile.stored_bytes).label("size"))
        .where(MediaFile.sha256.is_not(None))
        .group_by(MediaFile.sha256)
        .subquery()
    )
    stored = await session.scalar(select(func.coalesce(func.sum(files.c.size), 0)))
    out["bytes"] = int(stored or 0)
    return out
