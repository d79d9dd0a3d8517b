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


# Several processes collect at once on one database: each reports its collector account,
# downloads and web preview under rows of its own, "<part>:<owner>" (the owner: the
# account, the process's Telethon session name, as its supervised parts' rows). Before,
# all shared the row "<part>"; a process's first report drops it.
COLLECTOR = "collector"
DOWNLOADS = "downloads"
WEBPREVIEW = "webpreview"


def collector_row(account: str) -> str:
    """The status row a collector account reports to."""
    return process_row(COLLECTOR, account)


async def collectors(session: AsyncSession) -> list[tuple[str, ServiceStatus]]:
    """Every collector account's last report: (account, row), by account."""
    return await reports(session, COLLECTOR)


def process_row(part: str, owner: str) -> str:
    """The status row one process's downloads or web preview reports to."""
    return f"{part}:{owner}"


async def reports(session: AsyncSession, part: str) -> list[tuple[str, ServiceStatus]]:
    """Every process's report of `part`: (owner, row), by owner."""
    prefix = process_row(part, "")
    rows = await with_prefix(session, prefix)
    return [(r.name.removeprefix(prefix), r) for r in rows]


async def put_own(
    session: AsyncSession, part: str, owner: str, data: dict[str, Any], *, first: bool
) -> None:
    """A process's report of `part`; the first one drops the row all processes shared
    before (left by an upgrade, nobody would write it again)."""
    if first:
        await drop(session, [part])
    await put(session, process_row(part, owner), data)


async def last_digest(session: AsyncSession) -> DigestRun | None:
    return await session.scalar(
        select(DigestRun).order_by(DigestRun.started_at.desc(), DigestRun.id.desc()).limit(1)
    )
