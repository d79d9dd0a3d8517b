"""Events: written once per change, whatever road the change was seen by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_ignore_many
from storage.models import Event
from storage.payloads import Payload
from storage.types import utcnow


def row(
    *,
    channel_id: int,
    payload: Payload,
    dedupe_key: str,
    occurred_at: datetime | None = None,
    post_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One event row; its kind is the payload's."""
    now = now or utcnow()
    return {
        "channel_id": channel_id,
        "post_id": post_id,
        "kind": payload.kind,
        "payload": payload.dump(),
        "occurred_at": occurred_at or now,
        "detected_at": now,
        "dedupe_key": dedupe_key,
    }


async def record_many(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Write the events whose dedupe keys are new; their ids."""
    return await insert_ignore_many(session, Event, rows, key="dedupe_key")


async def record(
    session: AsyncSession,
    *,
    channel_id: int,
    payload: Payload,
    dedupe_key: str,
    occurred_at: datetime | None = None,
    post_id: int | None = None,
) -> int | None:
    """Write an event unless its dedupe key is known; the new event's id, or None."""
    ids = await record_many(
        session,
        [
            row(
                channel_id=channel_id,
                dedupe_key=dedupe_key,
                payload=payload,
                occurred_at=occurred_at,
                post_id=post_id,
            )
        ],
    )
    return ids[0] if ids else None


async def recent(session: AsyncSession, channel_id: int, limit: int = 20) -> Sequence[Event]:
    rows = await session.scalars(
        select(Event)
        .where(Event.channel_id == channel_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    return rows.all()


async def unrouted(session: AsyncSession, limit: int = 200) -> Sequence[Event]:
    rows = await session.scalars(
        select(Event).where(Event.routed_at.is_(None)).order_by(Event.id).limit(limit)
    )
    return rows.all()
