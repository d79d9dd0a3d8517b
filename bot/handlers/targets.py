"""Channels as targets: /target links a channel the sender runs, lists and removes links.

Both sides are asked of Telegram with getChatMember on every call: the sender must be
the channel's creator or an administrator, and the bot an administrator allowed to post.
A linked channel is a chat of its own (kind "channel"): its subscriptions, kinds, filters,
language and digest switch are set by naming it first in the usual commands
(`bot.middlewares.TargetContext`).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import is_chat_admin
from bot.handlers.base import echo, send, send_lines, split_args
from bot.handlers.chats import can_post
from bot.i18n import Translator
from bot.render import esc
from storage import subscribers
from storage.db import SessionMaker, transaction
from storage.models import Subscriber

log = logging.getLogger(__name__)


class _Asked(NamedTuple):
    """Who asked, where, and what to answer with."""

    message: Message
    bot: Bot
    sessions: SessionMaker
    t: Translator
    lang: str
    user_id: int


async def target_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    first, rest = split_args(command.args)
    user = message.from_user
    if user is None:
        return
    asked = _Asked(message, bot, sessions, t, lang, user.id)
    if not first:
        await _list(message, sessions, t, lang, user.id)
    elif first.lower() in ("remove", "delete", "удалить") and rest:
        await _remove(asked, rest.split()[0])
    elif first.startswith("@") and not rest:
        await _link(asked, first)
    else:
        await send(message, t.get(lang, "target-usage"))


async def _list(
    message: Message, sessions: SessionMaker, t: Translator, lang: str, user_id: int
) -> None:
    async with sessions() as s:
        linked = await subscribers.linked_targets(s, user_id)
        counts = {c.id: len(await subscribers.subscribed_channel_ids(s, c.id)) for c in linked}
    if not linked:
        await send(message, t.get(lang, "target-none"))
        return
    lines = [t.get(lang, "target-header", count=len(linked))]
    for channel in linked:
        lines.append(
            t.get(
                lang,
                "target-line",
                channel=esc(target_name(channel)),
                title=esc(channel.first_name),
                count=counts[channel.id],
                state="gone" if channel.blocked_at else "ok",
            )
        )
    await send_lines(message, lines)


def target_name(channel: Subscriber) -> str:
    """How a linked channel is named in commands: @username, else its title."""
    return f"@{channel.username}" if channel.username else channel.first_name


async def still_linked(sessions: SessionMaker, t: Translator, lang: str, user_id: int) -> str:
    """For /stop: the channels this user linked keep their alerts, and how to unlink one
    ("" when there are none). A newsroom's channel must not go dark because one of its
    admins left chanwatch in private."""
    async with sessions() as s:
        linked = await subscribers.linked_targets(s, user_id)
    if not linked:
        return ""
    names = [target_name(channel) for channel in linked]
    return t.get(
        lang, "stop-linked", count=len(names), channels=esc(", ".join(names)), first=esc(names[0])
    )


async def _link(asked: _Asked, name: str) -> None:
    message, bot, sessions, t, lang, user_id = asked
    try:
        chat = await bot.get_chat(name)
    except TelegramAPIError as exc:
        log.info("target %s not found: %s", name, exc)
        await send(message, t.get(lang, "target-not-found", channel=echo(name)))
        return
    if chat.type != "channel":
        await send(message, t.get(lang, "target-not-channel", channel=echo(name)))
        return
    if not await is_chat_admin(bot, chat.id, user_id):
        await send(message, t.get(lang, "target-not-admin", channel=echo(name)))
        return
    try:
        me = await bot.get_chat_member(chat.id, bot.id)
    except TelegramAPIError:
        me = None
    if me is None or not can_post(me, "channel"):
        await send(message, t.get(lang, "target-bot-cannot-post", channel=echo(name)))
        return

    async def work(s: AsyncSession) -> bool:
        row, created = await subscribers.get_or_create(
            s,
            chat.id,
            kind="channel",
            username=chat.username,
            first_name=chat.title or "",
            language=lang,
            linked_by=user_id,
        )
        row.linked_by = row.linked_by or user_id
        row.username = chat.username
        subscribers.clear_blocked(row)
        return created

    created = await transaction(sessions, work)
    key = "target-linked" if created else "target-already"
    await send(message, t.get(lang, key, channel=echo(name)))


async def _remove(asked: _Asked, name: str) -> None:
    message, bot, sessions, t, lang, user_id = asked
    async with sessions() as s:
        target = await subscribers.channel_target(s, name)
    if target is None:
        await send(message, t.get(lang, "target-unknown", channel=echo(name)))
        return
    if target.linked_by != user_id and not await is_chat_admin(bot, target.chat_id, user_id):
        await send(message, t.get(lang, "target-not-admin", channel=echo(name)))
        return
    chat_id = target.chat_id

    async def work(s: AsyncSession) -> bool:
        return await subscribers.delete_all(s, chat_id)

    await transaction(sessions, work)
    await send(message, t.get(lang, "target-removed", channel=echo(name)))


def get_router() -> Router:
    router = Router(name="targets")
    router.message.register(
        target_command, Command("target", ignore_case=True), F.chat.type == "private"
    )
    return router
