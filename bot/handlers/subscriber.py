"""Subscribers: channels, subscriptions, kinds, keyword filters, mute, digest."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import BotConfig, Digests
from bot.handlers.base import (
    ChannelArg,
    ChannelArgument,
    SubscriberFields,
    about_target,
    echo,
    fmt_time,
    labels_text,
    link,
    plain,
    query_chat,
    quoted_keywords,
    send,
    show,
    split_args,
    state_text,
    subscriber_fields,
    toast,
    usage_reply,
)
from bot.i18n import Translator
from bot.keyboards import (
    ChannelsCb,
    KindsCb,
    MuteCb,
    channels_keyboard,
    kinds_keyboard,
    mute_keyboard,
    page_slice,
)
from bot.keywords import MAX_KEYWORD_LEN, MAX_KEYWORDS, clean_keyword
from bot.numbers import parse_number
from bot.render import esc
from storage import channels, kinds, subscribers
from storage.db import SessionMaker, transaction
from storage.models import Channel, Subscriber
from storage.types import utcnow

MAX_MUTE = timedelta(days=365)
_MUTE_RE = re.compile(r"^(\d{1,6})\s*(h|hr|hrs|hours?|ч|час|d|days?|д|дн|дней|m|min|мин)?$")
_QUOTES = {'"': '"', "«": "»", "“": "”", "„": "“"}


# --------------------------------------------------------------------------- channel list


async def channel_page(
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    chat_id: int,
    page: int,
    *,
    header: str = "channels-header",
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The watched channels (one page) with labels and status, and the toggle keyboard."""
    async with sessions() as s:
        watched = list(await channels.watched(s))
        sub = await subscribers.by_chat(s, chat_id)
        followed = await subscribers.subscribed_channel_ids(s, sub.id) if sub else set()
    if not watched:
        return t.get(lang, "channels-none"), None
    shown, page = page_slice(watched, page)
    lines = [t.get(lang, header, count=len(watched))]
    for ch in shown:
        labels = labels_text(t, lang, ch)
        key = "channels-line-labels" if labels else "channels-line"
        lines.append(
            t.get(
                lang,
                key,
                channel=link(ch),
                labels=labels,
                state=state_text(t, lang, ch),
                followed="yes" if ch.id in followed else "no",
            )
        )
    return "\n".join(lines), channels_keyboard(t, lang, watched, followed, page)


async def channels_command(
    message: Message,
    chat_id: int,
    command: CommandObject,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    arg, _ = split_args(command.args)
    page = (parse_number(arg, 1, 99_999) or 1) - 1
    # A linked channel's list has no buttons: its header says how to follow by command.
    header = "channels-header-named" if about_target(message) else "channels-header"
    text, markup = await channel_page(sessions, t, lang, chat_id, page, header=header)
    await send(message, text, markup)


async def channels_page(
    query: CallbackQuery,
    callback_data: ChannelsCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    await toast(query)
    chat_id = query_chat(query)
    text, markup = await channel_page(sessions, t, lang, chat_id, callback_data.page)
    await show(query, text, markup)


async def channels_toggle(
    query: CallbackQuery,
    callback_data: ChannelsCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    chat_id = query_chat(query)
    channel_id = callback_data.channel_id

    async def work(s: AsyncSession) -> str:
        ch = await channels.get(s, channel_id)
        if ch is None or not ch.watched:
            return "stale-channel"
        sub, _ = await subscribers.get_or_create(
            s, chat_id, **subscriber_fields(query.from_user, lang)
        )
        if await subscribers.subscribe(s, sub.id, ch.id):
            return "sub-added"
        await subscribers.unsubscribe(s, sub.id, ch.id)
        return "sub-removed"

    outcome = await transaction(sessions, work)
    await toast(query, t.get(lang, outcome), alert=outcome == "stale-channel")
    text, markup = await channel_page(sessions, t, lang, chat_id, callback_data.page)
    await show(query, text, markup)


# --------------------------------------------------------------------------- by command


async def subscribe_command(
    message: Message,
    chat_id: int,
    named: ChannelArg | None,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    if named is None:
        return
    channel_id = named.channel.id

    async def work(s: AsyncSession) -> tuple[str, Channel | None]:
        channel = await channels.get(s, channel_id)
        if channel is None or not channel.watched:  # unwatched since the command was read
            return "channel-not-watched", None
        sub, _ = await subscribers.get_or_create(
            s, chat_id, **subscriber_fields(message.from_user, lang)
        )
        new = await subscribers.subscribe(s, sub.id, channel.id)
        return ("sub-added-cmd" if new else "sub-already"), channel

    outcome, channel = await transaction(sessions, work)
    shown = link(channel) if channel else echo(named.raw)
    await send(message, t.get(lang, outcome, channel=shown))


async def first_page(
    message: Message, chat_id: int, sessions: SessionMaker, t: Translator, lang: str
) -> None:
    """/subscribe or /unsubscribe without a channel: the list to choose from."""
    text, markup = await channel_page(sessions, t, lang, chat_id, 0)
    await send(message, text, markup)


async def unsubscribe_command(
    message: Message,
    named: ChannelArg | None,
    sessions: SessionMaker,
    subscriber: Subscriber | None,
    t: Translator,
    lang: str,
) -> None:
    if named is None:
        return
    ch = named.channel
    removed = False
    if subscriber is not None:
        sid, cid = subscriber.id, ch.id

        async def work(s: AsyncSession) -> bool:
            return await subscribers.unsubscribe(s, sid, cid)

        removed = await transaction(sessions, work)
    key_text = "unsub-done" if removed else "not-subscribed"
    await send(message, t.get(lang, key_text, channel=link(ch)))


# --------------------------------------------------------------------------- kinds


def _kinds_names(t: Translator, lang: str, groups: list[str]) -> str:
    names = [t.get(lang, "kind-name", group=g) for g in groups]
    return ", ".join(names) if names else t.get(lang, "kinds-none")


def _kinds_screen(
    t: Translator, lang: str, ch: Channel, groups: list[str]
) -> tuple[str, InlineKeyboardMarkup]:
    """A subscription's kinds, a button each to switch them."""
    return t.get(lang, "kinds-header", channel=link(ch)), kinds_keyboard(t, lang, ch.id, groups)


async def _subscription_of(
    sessions: SessionMaker, chat_id: int, channel_id: int
) -> tuple[Channel | None, list[str] | None]:
    async with sessions() as s:
        ch = await channels.get(s, channel_id)
        sub = await subscribers.by_chat(s, chat_id)
        found = await subscribers.subscription(s, sub.id, channel_id) if sub else None
    return ch, (list(found.event_kinds) if found else None)


def parse_kinds(text: str) -> tuple[list[str], str | None]:
    """The kinds named in `/kinds @name posts, edits`, or the first word that is none."""
    named: list[str] = []
    for word in text.replace(",", " ").lower().split():
        if word not in kinds.GROUPS:
            return [], word
        named.append(word)
    return named, None


async def kinds_command(
    message: Message,
    chat_id: int,
    named: ChannelArg | None,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    """`/kinds @name`: the kinds, a button each; `/kinds @name posts edits` sets them.

    A linked channel's answer has no buttons, so it shows the kinds and how to name them.
    """
    if named is None:
        return
    ch = named.channel
    wanted, unknown = parse_kinds(plain(named.rest))
    if unknown is not None:
        await send(message, t.get(lang, "kinds-unknown", word=echo(unknown)))
        return
    if not wanted:
        _, groups = await _subscription_of(sessions, chat_id, ch.id)
        if groups is None:
            await send(message, t.get(lang, "not-subscribed", channel=link(ch)))
        elif about_target(message):
            shown = t.get(lang, "kinds-show", channel=link(ch), kinds=_kinds_names(t, lang, groups))
            await send(message, f"{shown}\n{t.get(lang, 'kinds-by-words')}")
        else:
            await send(message, *_kinds_screen(t, lang, ch, groups))
        return

    async def save(s: AsyncSession) -> list[str] | None:
        sub = await subscribers.by_chat(s, chat_id)
        found = await subscribers.subscription(s, sub.id, ch.id) if sub else None
        if found is None:
            return None
        subscribers.set_kinds(found, wanted)
        return list(found.event_kinds)

    saved = await transaction(sessions, save)
    if saved is None:
        await send(message, t.get(lang, "not-subscribed", channel=link(ch)))
        return
    names = _kinds_names(t, lang, saved)
    await send(message, t.get(lang, "kinds-saved", channel=link(ch), kinds=names))


async def kinds_open(
    query: CallbackQuery,
    callback_data: ChannelsCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    chat_id = query_chat(query)
    ch, groups = await _subscription_of(sessions, chat_id, callback_data.channel_id)
    if ch is None or groups is None:
        await toast(query, t.get(lang, "stale-subscription"), alert=True)
        text, markup = await channel_page(sessions, t, lang, chat_id, callback_data.page)
        await show(query, text, markup)
        return
    await toast(query)
    await show(query, *_kinds_screen(t, lang, ch, groups))


async def kinds_toggle(
    query: CallbackQuery,
    callback_data: KindsCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    chat_id = query_chat(query)
    group = callback_data.group
    if group != "done" and group not in kinds.GROUPS:
        await toast(query, t.get(lang, "stale-button"), alert=True)
        return

    async def toggle(s: AsyncSession) -> tuple[str, Channel | None, list[str]]:
        channel = await channels.get(s, callback_data.channel_id)
        sub = await subscribers.by_chat(s, chat_id)
        found = await subscribers.subscription(s, sub.id, channel.id) if sub and channel else None
        if channel is None or found is None:
            return "stale-subscription", None, []
        current = list(found.event_kinds)
        if group == "done":
            return "done", channel, current
        wanted = [g for g in current if g != group] if group in current else [*current, group]
        if not wanted:
            return "kinds-at-least-one", channel, current
        subscribers.set_kinds(found, wanted)
        return "ok", channel, list(found.event_kinds)

    outcome, channel, groups = await transaction(sessions, toggle)
    if channel is None:
        await toast(query, t.get(lang, outcome), alert=True)
        await show(query, t.get(lang, outcome))
        return
    if outcome == "kinds-at-least-one":
        await toast(query, t.get(lang, outcome), alert=True)
        return
    await toast(query)
    if outcome == "done":
        await show(
            query,
            t.get(lang, "kinds-saved", channel=link(channel), kinds=_kinds_names(t, lang, groups)),
        )
        return
    await show(query, *_kinds_screen(t, lang, channel, groups))


# --------------------------------------------------------------------------- keyword filters


def split_keywords(text: str) -> list[str]:
    """Items of a filter list: comma-separated (quotes keep commas), else space-separated."""
    if not any(c in text for c in ',"«“„'):
        return text.split()
    items: list[str] = []
    buf: list[str] = []
    closing: str | None = None
    for char in text:
        if closing is not None:
            if char == closing:
                closing = None
            else:
                buf.append(char)
        elif char in _QUOTES:
            closing = _QUOTES[char]
        elif char == ",":
            items.append("".join(buf))
            buf = []
        else:
            buf.append(char)
    items.append("".join(buf))
    return [item.strip() for item in items if item.strip()]


async def filters_command(
    message: Message,
    chat_id: int,
    named: ChannelArg | None,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    if named is None:
        return
    channel = named.channel
    rest = plain(named.rest)
    if not rest:
        async with sessions() as s:
            sub = await subscribers.by_chat(s, chat_id)
            found = await subscribers.subscription(s, sub.id, channel.id) if sub else None
        if found is None:
            await send(message, t.get(lang, "not-subscribed", channel=link(channel)))
        elif found.keywords:
            await send(
                message,
                t.get(
                    lang,
                    "filters-show",
                    channel=link(channel),
                    keywords=quoted_keywords(found.keywords),
                ),
            )
        else:
            await send(message, t.get(lang, "filters-none", channel=link(channel)))
        return
    keywords: list[str] = []
    if rest not in ("-", "—", "–"):
        items = split_keywords(rest)
        for item in items:
            word = clean_keyword(item)
            if word is None:
                await send(
                    message,
                    t.get(lang, "filters-bad-keyword", keyword=echo(item), length=MAX_KEYWORD_LEN),
                )
                return
            if word not in keywords:
                keywords.append(word)
            if len(keywords) > MAX_KEYWORDS:
                await send(message, t.get(lang, "filters-too-many", max=MAX_KEYWORDS))
                return
        if not keywords:
            await send(
                message, t.get(lang, "filters-usage", max=MAX_KEYWORDS, length=MAX_KEYWORD_LEN)
            )
            return

    async def save(s: AsyncSession) -> bool:
        sub = await subscribers.by_chat(s, chat_id)
        found = await subscribers.subscription(s, sub.id, channel.id) if sub else None
        if found is None:
            return False
        subscribers.set_keywords(found, keywords)
        return True

    if not await transaction(sessions, save):
        await send(message, t.get(lang, "not-subscribed", channel=link(channel)))
    elif keywords:
        await send(
            message,
            t.get(lang, "filters-set", channel=link(channel), keywords=quoted_keywords(keywords)),
        )
    else:
        await send(message, t.get(lang, "filters-cleared", channel=link(channel)))


# --------------------------------------------------------------------------- mute


def parse_period(text: str) -> timedelta | None:
    """ "1h", "8h", "1d", "7d", "90m" or a bare number of hours; None when malformed."""
    m = _MUTE_RE.match(text.strip().lower())
    if m is None:
        return None
    number, unit = int(m.group(1)), m.group(2) or "h"
    if unit[0] in "dд":
        period = timedelta(days=number)
    elif unit[0] in "mм":
        period = timedelta(minutes=number)
    else:
        period = timedelta(hours=number)
    if period <= timedelta(0) or period > MAX_MUTE:
        return None
    return period


async def _mute(
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
    chat_id: int,
    fields: SubscriberFields,
    period: timedelta,
) -> str:
    until = utcnow() + period

    async def work(s: AsyncSession) -> None:
        sub, _ = await subscribers.get_or_create(s, chat_id, **fields)
        subscribers.mute_until(sub, until)

    await transaction(sessions, work)
    return t.get(lang, "mute-set", until=esc(fmt_time(until, config.tz, t, lang)))


async def mute_command(
    message: Message,
    chat_id: int,
    command: CommandObject,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    raw = (command.args or "").strip()
    if not raw:
        await send(message, t.get(lang, "mute-usage"), mute_keyboard(t, lang))
        return
    period = parse_period(raw)
    if period is None:
        await send(message, t.get(lang, "mute-invalid", value=echo(raw)), mute_keyboard(t, lang))
        return
    fields = subscriber_fields(message.from_user, lang)
    await send(message, await _mute(sessions, config, t, lang, chat_id, fields, period))


async def mute_pressed(
    query: CallbackQuery,
    callback_data: MuteCb,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    period = parse_period(callback_data.period)
    if period is None:
        await toast(query, t.get(lang, "stale-button"), alert=True)
        return
    await toast(query)
    chat_id = query_chat(query)
    fields = subscriber_fields(query.from_user, lang)
    await show(query, await _mute(sessions, config, t, lang, chat_id, fields, period))


async def unmute_command(
    message: Message,
    chat_id: int,
    sessions: SessionMaker,
    subscriber: Subscriber | None,
    t: Translator,
    lang: str,
) -> None:
    if subscriber is None or not subscribers.is_muted(subscriber):
        await send(message, t.get(lang, "unmute-not-muted"))
        return

    async def work(s: AsyncSession) -> None:
        sub = await subscribers.by_chat(s, chat_id)
        if sub is not None:
            subscribers.mute_until(sub, None)

    await transaction(sessions, work)
    await send(message, t.get(lang, "unmute-done"))


# --------------------------------------------------------------------------- digest


async def digest_command(
    message: Message,
    chat_id: int,
    command: CommandObject,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    wake_sender: Callable[[], None],
    digests: Digests | None,
) -> None:
    arg = (command.args or "").strip().lower()
    if arg in ("on", "off", "вкл", "выкл"):
        enabled = arg in ("on", "вкл")

        async def toggle(s: AsyncSession) -> None:
            sub, _ = await subscribers.get_or_create(
                s, chat_id, **subscriber_fields(message.from_user, lang)
            )
            subscribers.set_digest(sub, enabled)

        await transaction(sessions, toggle)
        await send(message, t.get(lang, "digest-on" if enabled else "digest-off"))
        return
    if arg:
        await send(message, t.get(lang, "digest-usage"))
        return
    if digests is None:
        await send(message, t.get(lang, "digest-unavailable"))
        return

    async def ensure(s: AsyncSession) -> int:
        sub, _ = await subscribers.get_or_create(
            s, chat_id, **subscriber_fields(message.from_user, lang)
        )
        return sub.id

    subscriber_id = await transaction(sessions, ensure)
    queued = await digests.digest_now(subscriber_id)
    if queued:
        wake_sender()
        await send(message, t.get(lang, "digest-queued"))
    else:
        await send(message, t.get(lang, "digest-empty"))


def get_router() -> Router:
    router = Router(name="subscriber")
    router.message.register(channels_command, Command("channels", ignore_case=True))
    router.callback_query.register(channels_page, ChannelsCb.filter(F.action == "p"))
    router.callback_query.register(channels_toggle, ChannelsCb.filter(F.action == "t"))
    subscribe = Command("subscribe", ignore_case=True)
    watched_only = ChannelArgument(unwatched="channel-not-watched")
    router.message.register(subscribe_command, subscribe, watched_only)
    router.message.register(first_page, subscribe)
    unsubscribe = Command("unsubscribe", ignore_case=True)
    router.message.register(unsubscribe_command, unsubscribe, ChannelArgument())
    router.message.register(first_page, unsubscribe)
    kinds_cmd = Command("kinds", ignore_case=True)
    router.message.register(kinds_command, kinds_cmd, ChannelArgument())
    router.message.register(usage_reply("kinds-usage"), kinds_cmd)
    router.callback_query.register(kinds_open, ChannelsCb.filter(F.action == "k"))
    router.callback_query.register(kinds_toggle, KindsCb.filter())
    filters_cmd = Command("filters", ignore_case=True)
    router.message.register(filters_command, filters_cmd, ChannelArgument())
    filters_usage = usage_reply("filters-usage", max=MAX_KEYWORDS, length=MAX_KEYWORD_LEN)
    router.message.register(filters_usage, filters_cmd)
    router.message.register(mute_command, Command("mute", ignore_case=True))
    router.callback_query.register(mute_pressed, MuteCb.filter())
    router.message.register(unmute_command, Command("unmute", ignore_case=True))
    router.message.register(digest_command, Command("digest", ignore_case=True))
    return router
