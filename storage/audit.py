"""The moderators' audit log: who did what, when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry
from storage.types import utcnow

TARGET_MAX = 255


async def record(
    session: AsyncSession,
    actor_user_id: int,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    """Write an entry in the caller's transaction; its id."""
    entry = AuditEntry(
        actor_user_id=actor_user_id,
        action=action[:64],
        target=str(target)[:TARGET_MAX],
        details=details or {},
        at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry.id


async def get(session: AsyncSession, entry_id: int) -> AuditEntry | None:
    return await session.get(AuditEntry, entry_id)


async def find(session: AsyncSession, action: str, target: str) -> AuditEntry | None:
    return await session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.target == target)
        .order_by(AuditEntry.id)
        .limit(1)
    )


async def recent(session: AsyncSession, limit: int = 20) -> Sequence[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    )
    return rows.all()
