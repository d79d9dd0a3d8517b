"""Subscribers and what they follow; every function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import kinds, outbox
from storage.db import insert_ignore, insert_ignore_rows, rows_matched
from storage.models import Channel, Delivery, Digest, Subscriber, Subscription
from storage.types import utcnow


async def by_chat(session: AsyncSession, chat_id: int) -> Subscriber | None:
    return await session.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))


async def by_user(session: AsyncSession, user_id: int) -> Subscriber | None:
    """The private chat of a Telegram user (chat id and user id are the same there)."""
    return await session.scalar(
        select(Subscriber)
        .where(or_(Subscriber.chat_id == user_id, Subscriber.user_id == user_id))
        .order_by(Subscriber.chat_id != user_id, Subscriber.id)
        .limit(1)
    )


async def get_or_create(
    session: AsyncSession,
    chat_id: int,
    *,
    user_id: int | None = None,
    username: str | None = None,
    first_name: str = "",
    language: str = "en",
    kind: str | None = None,
    linked_by: int | None = None,
) -> tuple[Subscriber, bool]:
    """The subscriber of a chat, created when missing; (subscriber, created).

    Safe when two updates of a new chat race: the unique chat id decides, and the
    loser reads the winner's row. A group's or channel's row never carries a user id:
    moderator rights and bans look rows up by user, and must find only private chats.
    """
    existing = await by_chat(session, chat_id)
    if existing is not None:
        return existing, False
    new_id = await insert_ignore(
        session,
        Subscriber,
        {
            "chat_id": chat_id,
            "kind": kind or ("private" if chat_id > 0 else "group"),
            "linked_by": linked_by,
            "user_id": user_id if chat_id > 0 else None,
            "username": (username or None) and username[:64],
            "first_name": (first_name or "")[:255],
            "language": language[:8],
            "is_moderator": False,
            "digest_enabled": True,
            "created_at": utcnow(),
        },
        key="chat_id",
    )
    found = await by_chat(session, chat_id)
    assert found is not None
    return found, new_id is not None


def set_language(subscriber: Subscriber, language: str) -> None:
    subscriber.language = language[:8]


def set_digest(subscriber: Subscriber, enabled: bool) -> None:
    subscriber.digest_enabled = enabled


def mute_until(subscriber: Subscriber, until: datetime | None) -> None:
    subscriber.muted_until = until


def is_muted(subscriber: Subscriber, now: datetime | None = None) -> bool:
    return subscriber.muted_until is not None and subscriber.muted_until > (now or utcnow())


def clear_blocked(subscriber: Subscriber) -> None:
    subscriber.blocked_at = None
    subscriber.block_reason = None


# --------------------------------------------------------------------------- groups, channels


async def mark_gone(session: AsyncSession, chat_id: int, reason: str) -> bool:
    """The bot can no longer post in the chat (removed, banned, demoted): stop sending.

    What was queued is skipped, not retried; False when the chat is unknown.
    """
    sub = await by_chat(session, chat_id)
    if sub is None:
        return False
    sub.blocked_at = utcnow()
    sub.block_reason = reason[:255]
    await session.flush()
    await outbox.cancel_for_subscriber(session, sub.id, reason)
    return True


async def move_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> bool:
    """A group became a supergroup: its row, subscriptions and open deliveries follow.

    A row the new supergroup got meanwhile (a stray update) gives way to the group's,
    whose subscriptions are the ones its admins set. False when nothing was to move.
    """
    # Locked: Telegram sends the notice to both chats, and the two are handled at once.
    # Unlocked, the second saw the row the first had just moved as "a row the new
    # supergroup got meanwhile" and deleted it. Locked, it waits, then finds no old row.
    old = await session.scalar(
        select(Subscriber).where(Subscriber.chat_id == old_chat_id).with_for_update()
    )
    if old is None:
        return False
    if await by_chat(session, new_chat_id) is not None:
        await delete_all(session, new_chat_id)
        await session.flush()
    old.chat_id = new_chat_id
    old.kind = "supergroup"
    await session.flush()
    await outbox.move_chat(session, old_chat_id, new_chat_id)
    return True


def set_topic(sub: Subscription, thread_id: int | None) -> None:
    sub.thread_id = thread_id


async def channel_target(session: AsyncSession, name: str) -> Subscriber | None:
    """A channel linked as a target, by its @username (any case)."""
    wanted = name.lstrip("@").lower()
    if not wanted:
        return None
    return await session.scalar(
        select(Subscriber)
        .where(Subscriber.kind == "channel", func.lower(Subscriber.username) == wanted)
        .limit(1)
    )


async def linked_targets(session: AsyncSession, user_id: int) -> Sequence[Subscriber]:
    """The channels this user linked as targets (/target), by title."""
    rows = await session.scalars(
        select(Subscriber)
        .where(Subscriber.linked_by == user_id, Subscriber.kind == "channel")
        .order_by(Subscriber.first_name, Subscriber.id)
    )
    return rows.all()


# --------------------------------------------------------------------------- subscriptions


async def subscription(
    session: AsyncSession, subscriber_id: int, channel_id: int
) -> Subscription | None:
    return await session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.channel_id == channel_id
        )
    )


async def subscriptions(
    session: AsyncSession, subscriber_id: int
) -> Sequence[tuple[Subscription, Channel]]:
    rows = await session.execute(
        select(Subscription, Channel)
        .join(Channel, Subscription.channel_id == Channel.id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(Channel.title, Channel.id)
    )
    return [(sub, ch) for sub, ch in rows]


async def subscribed_channel_ids(session: AsyncSession, subscriber_id: int) -> set[int]:
    rows = await session.scalars(
        select(Subscription.channel_id).where(Subscription.subscriber_id == subscriber_id)
    )
    return set(rows)


async def subscribe(session: AsyncSession, subscriber_id: int, channel_id: int) -> bool:
    """Follow a channel with every kind of event; False when already following."""
    written = await insert_ignore_rows(
        session,
        Subscription,
        [
            {
                "subscriber_id": subscriber_id,
                "channel_id": channel_id,
                "event_kinds": list(kinds.DEFAULT_GROUPS),
                "keywords": [],
                "muted": False,
                "created_at": utcnow(),
            }
        ],
        conflict=["subscriber_id", "channel_id"],
        returning=[Subscription.id],
    )
    return bool(written)


async def unsubscribe(session: AsyncSession, subscriber_id: int, channel_id: int) -> bool:
    removed = await rows_matched(
        session,
        delete(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.channel_id == channel_id
        ),
    )
    return bool(removed)


def set_kinds(sub: Subscription, groups: Sequence[str]) -> None:
    """Keep the known groups, in their canonical order."""
    wanted = set(groups)
    sub.event_kinds = [g for g in kinds.GROUPS if g in wanted]


def set_keywords(sub: Subscription, keywords: Sequence[str]) -> None:
    sub.keywords = list(keywords)


# --------------------------------------------------------------------------- leaving


async def delete_all(session: AsyncSession, chat_id: int) -> bool:
    """Forget a chat: its subscriptions, queued messages, digests and the subscriber row."""
    subscriber = await by_chat(session, chat_id)
    if subscriber is None:
        return False
    sid = subscriber.id
    await session.execute(delete(Delivery).where(Delivery.subscriber_id == sid))
    await session.execute(delete(Digest).where(Digest.subscriber_id == sid))
    await session.execute(delete(Subscription).where(Subscription.subscriber_id == sid))
    await session.execute(delete(Subscriber).where(Subscriber.id == sid))
    return True


# --------------------------------------------------------------------------- moderation


async def _for_user(session: AsyncSession, user_id: int) -> Subscriber:
    found = await by_user(session, user_id)
    if found is not None:
        return found
    sub, _ = await get_or_create(session, user_id, user_id=user_id)
    return sub


async def ban(session: AsyncSession, user_id: int) -> bool:
    """Ban a user (creating their row if they never wrote); False when already banned.

    A banned user loses any moderator right granted in the bot.
    """
    sub = await _for_user(session, user_id)
    if sub.banned_at is not None:
        return False
    sub.banned_at = utcnow()
    sub.is_moderator = False
    await session.flush()
    # Nothing already queued may reach a banned user either.
    await outbox.cancel_for_subscriber(session, sub.id, "banned")
    return True


async def unban(session: AsyncSession, user_id: int) -> bool:
    sub = await by_user(session, user_id)
    if sub is None or sub.banned_at is None:
        return False
    sub.banned_at = None
    return True


async def grant_moderator(session: AsyncSession, user_id: int) -> bool:
    """False when the user already is a moderator."""
    sub = await _for_user(session, user_id)
    if sub.is_moderator and sub.banned_at is None:
        return False
    sub.is_moderator = True
    sub.banned_at = None
    return True


async def revoke_moderator(session: AsyncSession, user_id: int) -> bool:
    sub = await by_user(session, user_id)
    if sub is None or not sub.is_moderator:
        return False
    sub.is_moderator = False
    return True


async def is_moderator(session: AsyncSession, user_id: int) -> bool:
    """A moderator granted in the bot and not banned (configured ids are the caller's)."""
    found = await session.scalar(
        select(Subscriber.id)
        .where(
            or_(Subscriber.chat_id == user_id, Subscriber.user_id == user_id),
            Subscriber.is_moderator.is_(True),
            Subscriber.banned_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def moderators(session: AsyncSession) -> Sequence[Subscriber]:
    rows = await session.scalars(
        select(Subscriber)
        .where(Subscriber.is_moderator.is_(True), Subscriber.banned_at.is_(None))
        .order_by(Subscriber.id)
    )
    return rows.all()


async def reachable(session: AsyncSession) -> Sequence[Subscriber]:
    """Everyone a broadcast may go to: not blocked, not banned, and not a linked channel
    (its readers are the public, who never asked for the bot's notices)."""
    rows = await session.scalars(
        select(Subscriber)
        .where(
            Subscriber.blocked_at.is_(None),
            Subscriber.banned_at.is_(None),
            Subscriber.kind != "channel",
        )
        .order_by(Subscriber.id)
    )
    return rows.all()
