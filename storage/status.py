"""Health that one part reports and another shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DigestRun, ServiceStatus
from storage.types import utcnow


async def put(session: AsyncSession, name: str, data: dict[str, Any]) -> None:
    row = await session.get(ServiceStatus, name)
    if row is None:
        session.add(ServiceStatus(name=name, data=data, updated_at=utcnow()))
    else:
        row.data = data
        row.updated_at = utcnow()


async def drop(session: AsyncSession, names: list[str]) -> None:
    """Forget these rows (reports that no part writes any more)."""
    if names:
        await session.execute(delete(ServiceStatus).where(ServiceStatus.name.in_(names)))


async def get(session: AsyncSession, name: str) -> ServiceStatus | None:
    return await session.get(ServiceStatus, name)


async def with_prefix(session: AsyncSession, prefix: str) -> list[ServiceStatus]:
    rows = await session.scalars(
        select(ServiceStatus)
        .where(ServiceStatus.name.startswith(prefix))
        .order_by(ServiceStatus.name)
    )
    return list(rows)


# Each collector account reports under its own row: several processes collect at once.
COLLECTOR_PREFIX = "collector:"
# The one row all collectors shared before; its last writer is gone after an upgrade.
OLD_COLLECTOR_ROW = "collector"


def collector_row(account: str) -> str:
    """The status row a collector account reports to."""
    return COLLECTOR_PREFIX + account


async def collectors(session: AsyncSession) -> list[tuple[str, ServiceStatus]]:
    """Every collector account's last report: (account, row), by account."""
    rows = await with_prefix(session, COLLECTOR_PREFIX)
    return [(r.name.removeprefix(COLLECTOR_PREFIX), r) for r in rows]


async def last_digest(session: AsyncSession) -> DigestRun | None:
    return await session.scalar(
        select(DigestRun).order_by(DigestRun.started_at.desc(), DigestRun.id.desc()).limit(1)
    )
