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
    for v in await session.scalars(
        select(PostVersion)
        .join(Post)
        .where(Post.channel_id == channel.id)
        .order_by(PostVersion.post_id, PostVersion.version)
    ):
        versions.setdefault(v.post_id, []).append(
            {
                "version": v.version,
                "text": v.text,
                "details": v.details,
                "edit_date": _iso(v.edit_date),
                "seen_at": _iso(v.seen_at),
            }
        )
    files: dict[int, list[dict[str, Any]]] = {}
    for f in await session.scalars(
        select(MediaFile).where(MediaFile.channel_id == channel.id).order_by(MediaFile.id)
    ):
        if f.post_id is not None:
            files.setdefault(f.post_id, []).append(
                {
                    "kind": f.kind,
                    "tg_id": f.tg_id,
                    "status": f.status,
                    "sha256": f.sha256,
                    "thumb_sha256": f.thumb_sha256,
                    "size": f.size,
                    "mime_type": f.mime_type,
                    "error": f.error,
                }
            )
    for p in await session.scalars(
        select(Post).where(Post.channel_id == channel.id).order_by(Post.message_id)
    ):
        yield {
            "record": "post",
            "message_id": p.message_id,
            "date": _iso(p.date),
            "edit_date": _iso(p.edit_date),
            "deleted_at": _iso(p.deleted_at),
            "version": p.version,
            "text": p.text,
            "media_kind": p.media_kind,
            "grouped_id": p.grouped_id,
            "views": p.views,
            "forwards": p.forwards,
            "reactions": p.reactions,
            "details": p.details,
            "media": files.get(p.id, []),
            "versions": versions.get(p.id, []),
        }
    for e in await session.scalars(
        select(Event).where(Event.channel_id == channel.id).order_by(Event.occurred_at, Event.id)
    ):
        yield {
            "record": "event",
            "kind": e.kind,
            "occurred_at": _iso(e.occurred_at),
            "detected_at": _iso(e.detected_at),
            "message_id": e.payload.get("message_id"),
            "payload": e.payload,
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
