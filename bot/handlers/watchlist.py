"""Moderators: the watch list — /watch asks the collector for a channel, /unwatch stops
watching one (after a yes), both written to the audit log with the change itself."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.base import (
    ChannelArg,
    ChannelArgument,
    actor_id,
    find_channel,
    handle_error_text,
    link,
    parse_channel,
    send,
    show,
    toast,
)
from bot.handlers.confirm import PressOnce, confirmed, question
from bot.i18n import Translator
from bot.keyboards import UnwatchCb, unwatch_keyboard
from bot.render import esc
from collectors.handles import HandleError
from storage import audit, channels, locks
from storage.db import SessionMaker, transaction
from storage.models import Channel, WatchRequest
from storage.types import utcnow

# How long /watch waits for the collector to resolve the handle, and how often it looks.
WATCH_TIMEOUT = 15.0
WATCH_POLL_INTERVAL = 0.5


# --------------------------------------------------------------------------- watch


async def _wait_for(sessions: SessionMaker, request_id: int) -> tuple[str, Channel | None] | None:
    """The collector's answer to a watch request, or None when it did not come in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WATCH_TIMEOUT
    while True:
        async with sessions() as s:
            req = await s.get(WatchRequest, request_id)
            if req is not None and req.status != "pending":
                channel = await channels.get(s, req.channel_id) if req.channel_id else None
                return req.result_code or "unknown", channel
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        await asyncio.sleep(min(WATCH_POLL_INTERVAL, remaining))


async def watch(
    message: Message, command: CommandObject, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    raw = (command.args or "").strip()
    if not raw:
        await send(message, t.get(lang, "watch-usage"))
        return
    try:
        handle = parse_channel(raw)
    except HandleError as err:
        await send(message, handle_error_text(t, lang, err, raw))
        return
    actor = actor_id(message)

    # The channel already watched, or the id of the request the collector answers.
    async def known_or_requested(s: AsyncSession) -> Channel | int:
        known = await find_channel(s, handle)
        # An unreachable channel's name may lead to another channel by now: the collector
        # asks Telegram again instead.
        if known is not None and known.watched and known.reachable:
            return known
        # The same name asked again while the collector is still on it: wait for that one.
        await locks.hold(s, locks.Lock.WATCH_REQUESTS)
        req = await s.scalar(
            select(WatchRequest)
            .where(
                WatchRequest.status == "pending",
                func.lower(WatchRequest.handle) == str(handle).lower(),
            )
            .order_by(WatchRequest.id)
            .limit(1)
        )
        if req is None:
            req = WatchRequest(
                handle=str(handle), requested_by=actor, status="pending", created_at=utcnow()
            )
            s.add(req)
            await s.flush()
        await audit.record(s, actor, "watch", str(handle), {"request_id": req.id})
        return req.id

    found = await transaction(sessions, known_or_requested)
    if isinstance(found, Channel):
        await send(message, t.get(lang, "watch-result", code="already", channel=link(found)))
        return
    request_id = found
    await send(message, t.get(lang, "watch-requested", handle=esc(str(handle))))
    outcome = await _wait_for(sessions, request_id)
    if outcome is None:
        await send(message, t.get(lang, "watch-queued", handle=esc(str(handle))))
        return
    code, answered = outcome
    channel = link(answered) if answered is not None else esc(str(handle))
    await send(message, t.get(lang, "watch-result", code=code, channel=channel))


# --------------------------------------------------------------------------- unwatch


async def unwatch(message: Message, named: ChannelArg | None, t: Translator, lang: str) -> None:
    if named is not None:
        await send(message, *_unwatch_confirmation(t, lang, named.channel))


async def unwatch_choose(
    message: Message, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    """/unwatch without a channel: the watched ones as buttons."""
    async with sessions() as s:
        watched = list(await channels.watched(s))
    if not watched:
        await send(message, t.get(lang, "watched-none"))
        return
    await send(message, t.get(lang, "unwatch-choose"), unwatch_keyboard(t, lang, watched))


def _unwatch_confirmation(
    t: Translator, lang: str, channel: Channel
) -> tuple[str, InlineKeyboardMarkup]:
    text = t.get(lang, "unwatch-confirm", channel=link(channel))
    channel_id = channel.id

    def answer(*, action: str) -> UnwatchCb:
        return UnwatchCb(action=action, channel_id=channel_id)

    return question(t, lang, text, answer, "kb-unwatch-yes")


async def unwatch_pressed(
    query: CallbackQuery,
    callback_data: UnwatchCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    once: PressOnce,
) -> None:
    action, channel_id = callback_data.action, callback_data.channel_id
    if action == "ask":  # a channel chosen from the /unwatch list: the question, once more
        async with sessions() as s:
            channel = await channels.get(s, channel_id)
        if channel is None or not channel.watched:
            await toast(query, t.get(lang, "stale-channel"), alert=True)
            return
        await toast(query)
        await show(query, *_unwatch_confirmation(t, lang, channel))
        return
    if action not in ("yes", "no"):
        await toast(query, t.get(lang, "stale-button"), alert=True)
        return
    if not await confirmed(query, action, once, t, lang, "unwatch-cancelled"):
        return
    actor = actor_id(query)

    async def unwatch_channel(s: AsyncSession) -> Channel | None:
        channel = await channels.get(s, channel_id)
        if channel is None or not channel.watched:
            return None
        await channels.unwatch(s, channel)
        await audit.record(
            s, actor, "unwatch", channel.username or str(channel.tg_id), {"channel": channel.id}
        )
        return channel

    channel = await transaction(sessions, unwatch_channel)
    if channel is None:
        await toast(query, t.get(lang, "stale-channel"), alert=True)
        await show(query, t.get(lang, "stale-channel"))
        return
    await toast(query)
    await show(query, t.get(lang, "unwatch-done", channel=link(channel)))


def get_router() -> Router:
    router = Router(name="watchlist")
    router.message.register(watch, Command("watch", ignore_case=True))
    unwatch_cmd = Command("unwatch", ignore_case=True)
    router.message.register(unwatch, unwatch_cmd, ChannelArgument(unwatched="unwatch-not-watched"))
    router.message.register(unwatch_choose, unwatch_cmd)
    router.callback_query.register(unwatch_pressed, UnwatchCb.filter())
    return router
