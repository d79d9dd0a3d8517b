"""Health that one part reports and another shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ServiceStatus
from storage.types import utcnow


async def put(session: AsyncSession, name: str, data: dict[str, Any]) -> None:
    row = await session.get(ServiceStatus, name)
    if row is None:
        session.add(ServiceStatus(name=name, data=data, updated_at=utcnow()))
    else:
        row.data = data
        row.updated_at = utcnow()


async def get(session: AsyncSession, name: str) -> ServiceStatus | None:
    return await session.get(ServiceStatus, name)
