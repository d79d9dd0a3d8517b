"""The one gatekeeper for "moderator only".

Authority is the configured moderator ids plus the subscribers granted moderator
rights in the bot (and not banned). It is read from the database on every call and
never cached, so a right revoked a second ago is gone on the next command.

`ModeratorOnly` is installed as an inner middleware on the moderator router: it
runs after one of that router's handlers matched (a moderator command or a
moderator button) and before the handler itself; everyone else gets a localized
refusal and the handler never runs.

`GroupAdminsOnly` is the same gate for groups: a command or button in a group or
supergroup goes through only when Telegram says, asked with getChatMember on that very
call, that its sender is the group's creator or an administrator. Nothing is cached: an
admin demoted a second ago is refused on the next command. /start and /help are open to
every member; other talk in the group is not for the bot and is ignored.

An admin who posts anonymously is not asked about: Telegram lets only a group's admins
post as the group, and shows such a message with `sender_chat` = the group and `from` =
@GroupAnonymousBot (https://core.telegram.org/bots/api#message), of whom getChatMember
can tell nothing. A message sent as another chat (a channel) is from nobody's admin.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from bot.config import BotConfig
from storage import subscribers
from storage.db import SessionMaker

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
GROUP_TYPES = frozenset({"group", "supergroup"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})
# Commands every member of a group may send: they explain, they change nothing.
OPEN_COMMANDS = frozenset({"start", "help"})


async def is_moderator(sessions: SessionMaker, config: BotConfig, user_id: int) -> bool:
    if user_id in config.moderator_ids:
        return True
    async with sessions() as s:
        return await subscribers.is_moderator(s, user_id)


async def moderator_chat_ids(sessions: SessionMaker, configured: Iterable[int]) -> list[int]:
    """Private chats of every moderator (configured and granted), for the command menus."""
    async with sessions() as s:
        granted = [m.chat_id for m in await subscribers.moderators(s)]
    return sorted(set(configured) | set(granted))


class ModeratorOnly(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and await is_moderator(data["sessions"], data["config"], user.id):
            return await handler(event, data)
        log.info("refused a moderator action to user %s", user.id if user else None)
        await refuse(event, data["t"].get(data["lang"], "mod-only"))
        return None


async def refuse(event: TelegramObject, text: str) -> None:
    """One short refusal: an alert on a button; an answer to a command, quoting it in a
    group so that the member sees whom it is for."""
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    elif isinstance(event, Message):
        quoted = event.message_id if event.chat.type != "private" else None
        await event.answer(text, reply_to_message_id=quoted)


async def is_chat_admin(bot: Bot, chat_id: int | str, user_id: int) -> bool:
    """Whether Telegram says, now, that the user is the chat's creator or an administrator."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramAPIError as exc:  # unknown chat, bot not in it: no rights can be proven
        log.info("getChatMember %s/%s failed: %s", chat_id, user_id, exc)
        return False
    return member.status in ADMIN_STATUSES


def addressed_command(text: str | None, bot_username: str | None) -> str | None:
    """The command a group message gives this bot (``/cmd`` or ``/cmd@thisbot``), else None."""
    if not text or not text.startswith("/"):
        return None
    name, _, mention = text.split(maxsplit=1)[0][1:].partition("@")
    if mention and (bot_username is None or mention.lower() != bot_username.lower()):
        return None  # meant for another bot in the group
    return name.lower() or None


class GroupAdminsOnly(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is None or chat.type not in GROUP_TYPES:
            return await handler(event, data)
        bot: Bot = data["bot"]
        if isinstance(event, Message):
            if event.migrate_to_chat_id or event.migrate_from_chat_id:
                return await handler(event, data)  # Telegram's own notice, not a request
            me = await bot.me()
            command = addressed_command(event.text, me.username)
            if command is None:
                return None
            if command in OPEN_COMMANDS:
                return await handler(event, data)
            if event.sender_chat is not None:
                if event.sender_chat.id == chat.id:
                    return await handler(event, data)  # an admin, posting anonymously
                # Posted as another chat (a channel): `from` is Telegram's placeholder
                # @Channel_Bot, and no admin of that channel is one of this group's.
                log.info("refused a group command sent as chat %s", event.sender_chat.id)
                await refuse(event, data["t"].get(data["lang"], "group-admins-only"))
                return None
        user: User | None = data.get("event_from_user")
        if user is not None and await is_chat_admin(bot, chat.id, user.id):
            return await handler(event, data)
        log.info("refused a group command to user %s in %s", user.id if user else None, chat.id)
        await refuse(event, data["t"].get(data["lang"], "group-admins-only"))
        return None
