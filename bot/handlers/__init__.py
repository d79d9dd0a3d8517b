"""Handlers, split by audience; `get_routers()` assembles them in the order they are tried."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    """Fresh routers: everyone, subscribers, moderators (behind the gatekeeper), fallback.

    The modules are imported here rather than at the top so that `bot.handlers.base`
    can be used by the middlewares without pulling every router in.
    """
    from bot.filters import ModeratorOnly
    from bot.handlers import common, fallback, moderator, subscriber

    moderators = moderator.get_router()
    gate = ModeratorOnly()
    moderators.message.middleware(gate)
    moderators.callback_query.middleware(gate)
    return [
        common.get_router(),
        subscriber.get_router(),
        moderators,
        fallback.get_router(),
    ]
