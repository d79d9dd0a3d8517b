"""The one gatekeeper for "moderator only".

Authority is the configured moderator ids plus the subscribers granted moderator
rights in the bot (and not banned). It is read from the database on every call and
never cached, so a right revoked a second ago is gone on the next command.

`ModeratorOnly` is installed as an inner middleware on the moderator router: it
runs after one of that router's handlers matched (a moderator command or a
moderator button) and before the handler itself; everyone else gets a localized
refusal and the handler never runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from chanwatch.settings import Settings
from storage import subscribers
from storage.db import SessionMaker

log = logging.getLogger(__name__)


async def is_moderator(sessions: SessionMaker, settings: Settings, user_id: int) -> bool:
    if user_id in settings.moderator_ids:
        return True
    async with sessions() as s:
        return await subscribers.is_moderator(s, user_id)


async def moderator_chat_ids(sessions: SessionMaker, settings: Settings) -> list[int]:
    """Private chats of every moderator (configured and granted), for the command menus."""
    async with sessions() as s:
        granted = [m.chat_id for m in await subscribers.moderators(s)]
    return sorted(set(settings.moderator_ids) | set(granted))


class ModeratorOnly(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and await is_moderator(data["sessions"], data["settings"], user.id):
            return await handler(event, data)
        log.info("refused a moderator action to user %s", user.id if user else None)
        text = data["t"].get(data["lang"], "mod-only")
        if isinstance(event, CallbackQuery):
            await event.answer(text, show_alert=True)
        elif isinstance(event, Message):
            await event.answer(text)
        return None
