"""The delivery outbox: enqueue once, claim, mark."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_ignore
from storage.models import Delivery
from storage.types import utcnow


async def enqueue(
    session: AsyncSession,
    *,
    subscriber_id: int,
    chat_id: int,
    kind: str,
    dedupe_key: str,
    parts: list[dict[str, Any]],
    event_id: int | None = None,
    digest_id: int | None = None,
) -> int | None:
    """Add a delivery unless one with the same key exists; the new row's id, or None."""
    return await insert_ignore(
        session,
        Delivery,
        {
            "subscriber_id": subscriber_id,
            "chat_id": chat_id,
            "kind": kind,
            "event_id": event_id,
            "digest_id": digest_id,
            "dedupe_key": dedupe_key,
            "parts": parts,
            "parts_sent": 0,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": utcnow(),
            "created_at": utcnow(),
        },
        key="dedupe_key",
    )
