"""The delivery outbox: enqueue once, claim, mark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_ignore_many
from storage.models import Delivery
from storage.types import utcnow


def row(
    *,
    subscriber_id: int,
    chat_id: int,
    kind: str,
    dedupe_key: str,
    parts: list[dict[str, Any]],
    event_id: int | None = None,
    digest_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One outbox row as every producer (alerts, digests, broadcasts) writes it."""
    now = now or utcnow()
    return {
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
        "next_attempt_at": now,
        "created_at": now,
    }


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Add the deliveries whose keys are new; their ids (the others were queued before)."""
    return await insert_ignore_many(session, Delivery, rows, key="dedupe_key")


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
    ids = await enqueue_many(
        session,
        [
            row(
                subscriber_id=subscriber_id,
                chat_id=chat_id,
                kind=kind,
                dedupe_key=dedupe_key,
                parts=parts,
                event_id=event_id,
                digest_id=digest_id,
            )
        ],
    )
    return ids[0] if ids else None
