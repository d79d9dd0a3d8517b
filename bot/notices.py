"""Notices to moderators from chanwatch itself (the media store filling up), via the outbox."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from storage import outbox
from storage.db import SessionMaker, transaction
from storage.models import Subscriber


async def tell_moderators(
    sessions: SessionMaker,
    t: Translator,
    moderator_ids: Sequence[int],
    key: str,
    /,
    **args: object,
) -> int:
    """Queue catalog message `key` for every moderator who has a chat with the bot, once per
    moderator and key (a restart does not repeat it); how many were queued."""

    async def work(s: AsyncSession) -> int:
        found = await s.scalars(
            select(Subscriber).where(
                or_(Subscriber.is_moderator.is_(True), Subscriber.user_id.in_(moderator_ids)),
                Subscriber.banned_at.is_(None),
                Subscriber.blocked_at.is_(None),
            )
        )
        rows = [
            outbox.row(
                subscriber_id=sub.id,
                chat_id=sub.chat_id,
                kind="notice",
                dedupe_key=f"notice:{key}:{sub.id}",
                parts=[outbox.message(t.get(sub.language, key, **args))],
            )
            for sub in found
        ]
        return len(await outbox.enqueue_many(s, rows))

    return await transaction(sessions, work)
