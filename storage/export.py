"""Export a channel's archive: posts (with every version) and events, as CSV or JSON Lines."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Channel, Event, MediaFile, Post, PostVersion

POST_FIELDS = (
    "record",
    "message_id",
    "date",
    "edit_date",
    "deleted_at",
    "version",
    "text",
    "media_kind",
    "grouped_id",
    "views",
    "forwards",
    "reactions",
    "details",
    "media",
    "versions",
)
EVENT_FIELDS = ("record", "kind", "occurred_at", "detected_at", "message_id", "payload")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def rows(session: AsyncSession, channel: Channel) -> AsyncIterator[dict[str, Any]]:
    versions: dict[int, list[dict[str, Any]]] = {}
    for version in await session.scalars(
        select(PostVersion)
        .join(Post)
        .where(Post.channel_id == channel.id)
        .order_by(PostVersion.post_id, PostVersion.version)
    ):
        versions.setdefault(version.post_id, []).append(
            {
                "version": version.version,
                "text": version.text,
                "details": version.details,
                "edit_date": _iso(version.edit_date),
                "seen_at": _iso(version.seen_at),
            }
        )
    files: dict[int, list[dict[str, Any]]] = {}
    for media_file in await session.scalars(
        select(MediaFile).where(MediaFile.channel_id == channel.id).order_by(MediaFile.id)
    ):
        if media_file.post_id is not None:
            files.setdefault(media_file.post_id, []).append(
                {
                    "kind": media_file.kind,
                    "tg_id": media_file.tg_id,
                    "status": media_file.status,
                    "sha256": media_file.sha256,
                    "thumb_sha256": media_file.thumb_sha256,
                    "size": media_file.size,
                    "mime_type": media_file.mime_type,
                    "error": media_file.error,
                }
            )
    for post in await session.scalars(
        select(Post).where(Post.channel_id == channel.id).order_by(Post.message_id)
    ):
        yield {
            "record": "post",
            "message_id": post.message_id,
            "date": _iso(post.date),
            "edit_date": _iso(post.edit_date),
            "deleted_at": _iso(post.deleted_at),
            "version": post.version,
            "text": post.text,
            "media_kind": post.media_kind,
            "grouped_id": post.grouped_id,
            "views": post.views,
            "forwards": post.forwards,
            "reactions": post.reactions,
            "details": post.details,
            "media": files.get(post.id, []),
            "versions": versions.get(post.id, []),
        }
    for event in await session.scalars(
        select(Event).where(Event.channel_id == channel.id).order_by(Event.occurred_at, Event.id)
    ):
        yield {
            "record": "event",
            "kind": event.kind,
            "occurred_at": _iso(event.occurred_at),
            "detected_at": _iso(event.detected_at),
            "message_id": event.payload.get("message_id"),
            "payload": event.payload,
        }


async def write(session: AsyncSession, channel: Channel, fmt: str, out: TextIO) -> int:
    """Write the archive to `out`; the number of records."""
    count = 0
    if fmt == "jsonl":
        async for row in rows(session, channel):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(
        out, fieldnames=sorted(set(POST_FIELDS) | set(EVENT_FIELDS)), extrasaction="ignore"
    )
    writer.writeheader()
    async for row in rows(session, channel):
        flat = {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            for k, v in row.items()
        }
        writer.writerow(flat)
        count += 1
    return count
