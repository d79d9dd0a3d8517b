"""Which watched channels the web preview reads in full beside the account (COLLECTOR=both).

The account (Telethon) is the better source: exact counts, FAKE/SCAM and restriction
labels, edit dates. The preview stands in where the account cannot read: while it is
flood-waited, for channels beyond its join and poll budget, and for a channel it lost
(banned for this account, private or invalid to it) while the public preview may still
show it. What the account lost is kept here, per account, so that losing access is not
mistaken for the channel vanishing: the preview decides whether the public can still see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import status
from storage.db import insert_ignore_rows
from storage.models import Channel, ServiceStatus
from storage.types import utcnow

# Reasons the account gives for not reading a channel; the public preview may disagree.
ACCOUNT_REASONS = frozenset({"banned", "private", "deleted"})
# The account's requests whose flood wait stops it reading channels (polls, refreshes).
FLOOD_KINDS = ("GetHistoryRequest", "GetChannelsRequest")
ACCOUNT_PREFIX = "account:"


async def web_covers(
    session: AsyncSession,
    channel_ids: Iterable[int],
    *,
    account: str,
    poll_cap: int | None = None,
    now: datetime | None = None,
) -> set[int]:
    """Of `channel_ids`, those the web preview reads in full now; the account reads the rest.

    Channel ids in, a set out, read from the database alone (any process may ask):

    - every channel while the account is flood-waited on polls or refreshes (its
      collector's reported flood waits);
    - a channel the account lost (`account_lost`), or one marked unreachable for a reason
      only the account gives (banned, private, deleted);
    - an unjoined channel beyond the account's poll budget: `poll_cap` unjoined channels
      are polled by the account (oldest watched first), joined ones get live updates; the
      rest are the preview's, but for those without a public name (no preview to read).
      `None`: the account polls every unjoined channel.

    This is the one place that decides it: the multi-account assignments (leases) are to
    feed the same decision later, with the same ids-in, set-out shape.
    """
    ids = set(channel_ids)
    if not ids:
        return set()
    now = now or utcnow()
    if await flood_waited(session, account, now):
        return ids
    rows = (
        await session.execute(
            select(
                Channel.id,
                Channel.username,
                Channel.joined,
                Channel.reachable,
                Channel.unavailable_reason,
            )
            .where(Channel.watched.is_(True))
            .order_by(Channel.id)
        )
    ).all()
    lost = set(await lost_by(session, account)) | {
        r.id for r in rows if not r.reachable and r.unavailable_reason in ACCOUNT_REASONS
    }
    covered = lost & ids
    if poll_cap is not None:
        polled = [r for r in rows if not r.joined and r.reachable and r.id not in lost]
        # A channel without a public name has no preview: the account keeps it, over budget.
        covered |= {r.id for r in polled[poll_cap:] if r.username} & ids
    return covered


async def flood_waited(session: AsyncSession, account: str, now: datetime) -> bool:
    """Whether the account's last report says a read it needs is still flood-waited."""
    row = await status.get(session, status.collector_row(account))
    if row is None:
        return False
    waits = (row.data or {}).get("flood_waits") or {}
    return any(
        row.updated_at + timedelta(seconds=float(waits.get(kind) or 0)) > now
        for kind in FLOOD_KINDS
        if kind in waits
    )


def _row_name(account: str) -> str:
    return ACCOUNT_PREFIX + account


async def lost_by(session: AsyncSession, account: str) -> dict[int, str]:
    """The channels `account` cannot read, with the reason it was given."""
    row = await session.get(ServiceStatus, _row_name(account))
    lost: dict[str, Any] = ((row.data if row is not None else None) or {}).get("lost") or {}
    return {int(k): str(v.get("reason", "")) for k, v in lost.items()}


async def _locked(session: AsyncSession, account: str) -> ServiceStatus:
    name = _row_name(account)
    # Made if missing without a race (two jobs may lose the account's access at once),
    # then locked: what is lost is read, changed and written back by one writer at a time.
    await insert_ignore_rows(
        session,
        ServiceStatus,
        [{"name": name, "data": {"lost": {}}, "updated_at": utcnow()}],
        conflict=["name"],
        returning=[ServiceStatus.name],
    )
    row = await session.get(ServiceStatus, name, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


async def account_lost(
    session: AsyncSession, account: str, channel_id: int, reason: str, now: datetime
) -> bool:
    """Note that `account` cannot read the channel; True when that is new."""
    row = await _locked(session, account)
    lost = dict((row.data or {}).get("lost") or {})
    if str(channel_id) in lost:
        return False
    lost[str(channel_id)] = {"reason": reason, "since": now.isoformat()}
    row.data = {**(row.data or {}), "lost": lost}  # a new dict: JSON columns track assignment
    row.updated_at = utcnow()
    return True


async def account_regained(session: AsyncSession, account: str, channel_id: int) -> None:
    row = await _locked(session, account)
    lost = dict((row.data or {}).get("lost") or {})
    if lost.pop(str(channel_id), None) is not None:
        row.data = {**(row.data or {}), "lost": lost}
        row.updated_at = utcnow()
