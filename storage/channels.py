"""The watch list."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import ledger
from storage.models import Channel
from storage.types import utcnow


def pending_tg_id(username: str) -> int:
    """The key of a channel watched by name before Telegram's id for it is known.

    The web preview shows a channel's id only in its messages' data-view; a new or empty
    channel is stored under this stand-in until the first message shows the real id.
    Telegram's channel ids are positive; this one is negative and the same for the same
    name in any case, so watching the name twice is still one row.
    """
    digest = hashlib.sha256(b"chanwatch-pending:" + username.lower().encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 2) - 1


def is_pending(tg_id: int) -> bool:
    return tg_id < 0


async def get(session: AsyncSession, channel_id: int) -> Channel | None:
    return await session.get(Channel, channel_id)


async def by_tg_id(session: AsyncSession, tg_id: int) -> Channel | None:
    return await session.scalar(select(Channel).where(Channel.tg_id == tg_id))


async def find(session: AsyncSession, ref: str | int) -> Channel | None:
    """A channel by Telegram id or username (any case, with or without @).

    Never by our own row id: "1" means Telegram's channel 1, not whichever row is first.
    """
    if isinstance(ref, int):
        return await by_tg_id(session, ref)
    name = str(ref).lstrip("@").lower()
    return await session.scalar(
        select(Channel).where(func.lower(Channel.username) == name).order_by(Channel.id)
    )


async def watched(session: AsyncSession, among: Collection[int] | None = None) -> Sequence[Channel]:
    """The watched channels, in id order; with `among`, only those of these ids."""
    query = select(Channel).where(Channel.watched.is_(True)).order_by(Channel.id)
    if among is not None:
        query = query.where(Channel.id.in_(among))
    return (await session.scalars(query)).all()


async def add_or_rewatch(
    session: AsyncSession,
    *,
    tg_id: int,
    access_hash: int | None,
    username: str | None,
    title: str,
    handle: str,
    added_by: int | None,
    source: str = ledger.DEFAULT_SOURCE,
) -> tuple[Channel, bool]:
    """Watch a resolved channel; (channel, True) when it was not watched before.

    A channel that was unwatched keeps its archive and simply becomes watched again.
    The name just resolved to this channel: any other channel stored with it lost it.
    """
    if username:
        await release_username(session, username, keep=tg_id, source=source)
    channel = await by_tg_id(session, tg_id)
    if channel is None and username and not is_pending(tg_id):
        # Watched by name before its id was known: this is that row, now with its id.
        channel = await by_tg_id(session, pending_tg_id(username))
        if channel is not None:
            channel.tg_id = tg_id
    if channel is not None:
        was_watched = channel.watched
        channel.watched = True
        channel.removed_at = None
        channel.access_hash = access_hash or channel.access_hash
        if username:
            channel.username = username
        return channel, not was_watched
    channel = Channel(
        tg_id=tg_id,
        access_hash=access_hash,
        username=username,
        title=title,
        input_handle=handle,
        added_by=added_by,
        added_at=utcnow(),
        restriction_reasons=[],
    )
    session.add(channel)
    await session.flush()
    return channel, True


async def release_username(
    session: AsyncSession, username: str, *, keep: int | None, source: str
) -> list[Channel]:
    """Clear a public name from every stored channel but Telegram's channel `keep`: Telegram
    says it leads elsewhere (or nowhere), so no alert may link them by it. Their snapshots
    and events keep the name they had; the observation log records the change."""
    holders = list(
        await session.scalars(
            select(Channel).where(
                func.lower(Channel.username) == username.lstrip("@").lower(),
                Channel.tg_id != (keep if keep is not None else 0),
            )
        )
    )
    for channel in holders:
        channel.username = None
        await ledger.note_channel(session, channel, source)
    return holders


async def learn_id(session: AsyncSession, channel: Channel, tg_id: int) -> Channel | None:
    """Give a channel watched by name the id its first message showed.

    Returns the other row when that id is already another channel's: the name now leads
    to a channel known under another name (a takeover), and the rows are not merged.
    """
    other = await by_tg_id(session, tg_id)
    if other is not None and other.id != channel.id:
        return other
    channel.tg_id = tg_id
    return None


async def unwatch(session: AsyncSession, channel: Channel) -> None:
    """Stop watching; the archive and events stay."""
    channel.watched = False
    channel.joined = False
    channel.removed_at = utcnow()
