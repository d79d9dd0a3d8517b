"""Groups and forum topics: the bot added or removed, a group upgraded, /start and /topic there.

Which member may send what in a group is decided before these handlers run
(`bot.filters.GroupAdminsOnly`); the bot's own status comes from `my_chat_member`.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandStart
from aiogram.types import ChatMemberUpdated, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import GROUP_TYPES
from bot.handlers.base import ChannelArg, ChannelArgument, link, send, usage_reply
from bot.i18n import Translator
from storage import subscribers
from storage.db import SessionMaker, transaction

log = logging.getLogger(__name__)


def can_post(member: object, chat_type: str) -> bool:
    """Whether the bot, with this ChatMember status, may post in a chat of this type."""
    status = getattr(member, "status", "left")
    if status == "creator":
        return True
    if status == "administrator":
        return chat_type != "channel" or bool(getattr(member, "can_post_messages", False))
    if status == "member":
        return chat_type != "channel"
    if status == "restricted":
        return bool(getattr(member, "is_member", False)) and bool(
            getattr(member, "can_send_messages", False)
        )
    return False


def _gone_reason(member: object) -> str:
    status = getattr(member, "status", "left")
    if status == "kicked":
        return "bot banned from the chat"
    if status == "left":
        return "bot removed from the chat"
    return "bot may no longer post in the chat"


async def bot_status(
    event: ChatMemberUpdated, bot: Bot, sessions: SessionMaker, t: Translator
) -> None:
    """The bot was added, promoted, demoted, removed or banned somewhere."""
    chat = event.chat
    if chat.type == "private":
        return  # a user blocking the bot: the sender learns it from Telegram's 403
    lang = t.pick(event.from_user.language_code if event.from_user else None)
    if not can_post(event.new_chat_member, chat.type):

        async def gone(s: AsyncSession) -> bool:
            return await subscribers.mark_gone(s, chat.id, _gone_reason(event.new_chat_member))

        if await transaction(sessions, gone):
            log.info("chat %s gone: %s", chat.id, event.new_chat_member.status)
        return

    async def resume(s: AsyncSession) -> bool:
        if chat.type == "channel":
            # A channel becomes a target only by /target; here it may only come back.
            found = await subscribers.by_chat(s, chat.id)
            created = False
        else:
            found, created = await subscribers.get_or_create(
                s, chat.id, kind=chat.type, first_name=chat.title or "", language=lang
            )
        if found is not None:
            subscribers.clear_blocked(found)
            found.first_name = (chat.title or found.first_name)[:255]
            found.username = chat.username
        return created

    if await transaction(sessions, resume) and chat.type in GROUP_TYPES:
        try:
            await bot.send_message(chat.id, t.get(lang, "group-added"), parse_mode="HTML")
        except TelegramAPIError as exc:
            log.info("could not greet group %s: %s", chat.id, exc)


async def group_migrated(message: Message, sessions: SessionMaker) -> None:
    """Telegram's notice that a group became a supergroup (in the old chat or the new one)."""
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return

    async def work(s: AsyncSession) -> bool:
        return await subscribers.move_chat(s, old, new)

    if await transaction(sessions, work):
        log.info("group %s moved to supergroup %s", old, new)


async def group_start(message: Message, t: Translator, lang: str) -> None:
    await send(message, t.get(lang, "group-start"))


async def topic_command(
    message: Message, named: ChannelArg | None, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    """`/topic @name` inside a forum topic: that channel's alerts go to this topic."""
    if not message.chat.is_forum:
        await send(message, t.get(lang, "topic-not-forum"))
        return
    if named is None:
        return
    thread = message.message_thread_id if message.is_topic_message else None
    await _set_topic(message, sessions, t, lang, message.chat.id, named, thread)


async def _set_topic(
    message: Message,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    chat_id: int,
    found: ChannelArg,
    thread: int | None,
) -> None:
    channel_id = found.channel.id

    async def work(s: AsyncSession) -> bool:
        sub = await subscribers.by_chat(s, chat_id)
        subscription = await subscribers.subscription(s, sub.id, channel_id) if sub else None
        if subscription is None:
            return False
        subscribers.set_topic(subscription, thread)
        return True

    if not await transaction(sessions, work):
        await send(message, t.get(lang, "not-subscribed", channel=link(found.channel)))
        return
    key = "topic-set" if thread is not None else "topic-cleared"
    await send(message, t.get(lang, key, channel=link(found.channel)))


def get_router() -> Router:
    router = Router(name="chats")
    router.my_chat_member.register(bot_status)
    router.message.register(group_migrated, F.migrate_to_chat_id | F.migrate_from_chat_id)
    router.message.register(group_start, CommandStart(), F.chat.type.in_(GROUP_TYPES))
    topic = Command("topic", ignore_case=True)
    router.message.register(topic_command, topic, ChannelArgument())
    router.message.register(usage_reply("topic-usage"), topic)
    return router
