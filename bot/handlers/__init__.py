"""Handlers, split by audience; `get_routers()` assembles them in the order they are tried."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    """Fresh routers: groups, everyone, subscribers, moderators (behind the gatekeeper),
    fallback.

    The modules are imported here rather than at the top so that `bot.handlers.base`
    can be used by the middlewares without pulling every router in.
    """
    from aiogram import F

    from bot.filters import ModeratorOnly
    from bot.handlers import (
        chats,
        common,
        evidence,
        fallback,
        health,
        moderator,
        subscriber,
        targets,
        watchlist,
    )

    moderators = Router(name="moderators")
    # Moderating is done in a moderator's private chat, never in front of a group.
    moderators.message.filter(F.chat.type == "private")
    gate = ModeratorOnly()
    moderators.message.middleware(gate)
    moderators.callback_query.middleware(gate)
    moderators.include_routers(
        watchlist.get_router(), health.get_router(), evidence.get_router(), moderator.get_router()
    )
    return [
        chats.get_router(),
        targets.get_router(),
        common.get_router(),
        subscriber.get_router(),
        moderators,
        fallback.get_router(),
    ]
