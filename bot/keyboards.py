"""Inline keyboards, their callback data and the command menus.

Every button carries a CallbackData factory; each packs into at most 64 bytes
(Telegram's limit): the fields are short codes and integer ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import Translator
from bot.numbers import RowId
from bot.textsplit import truncate
from storage import kinds
from storage.models import Channel

log = logging.getLogger(__name__)

PAGE_SIZE = 8
BUTTON_TITLE_MAX = 40
MUTE_CHOICES = ("1h", "8h", "1d", "7d")

# The menus Telegram shows next to the text field (each description is `cmd-<name>`).
SUBSCRIBER_COMMANDS = (
    "start",
    "help",
    "channels",
    "subscribe",
    "unsubscribe",
    "kinds",
    "filters",
    "mute",
    "unmute",
    "digest",
    "lang",
    "settings",
    "target",
    "topic",
    "stop",
)
MODERATOR_COMMANDS = (
    "watch",
    "unwatch",
    "watched",
    "status",
    "events",
    "pack",
    "mod",
    "ban",
    "unban",
    "broadcast",
    "audit",
    "digest_run",
)


def bot_commands(t: Translator, lang: str, *, moderator: bool) -> list[BotCommand]:
    names = SUBSCRIBER_COMMANDS + (MODERATOR_COMMANDS if moderator else ())
    return [BotCommand(command=name, description=t.get(lang, f"cmd-{name}")) for name in names]


def _menu_languages(t: Translator) -> list[tuple[str | None, str]]:
    """(language_code for setMyCommands, catalog): the default menu, then one per language."""
    return [(None, t.default), *((lang, lang) for lang in t.languages)]


async def set_default_menu(bot: Bot, t: Translator) -> None:
    """The subscribers' menu, for every chat, in each language."""
    for code, lang in _menu_languages(t):
        await bot.set_my_commands(
            bot_commands(t, lang, moderator=False),
            scope=BotCommandScopeDefault(),
            language_code=code,
        )


async def set_chat_menu(bot: Bot, t: Translator, chat_id: int, *, moderator: bool) -> bool:
    """Give one chat the moderators' menu, or take it away again; False if Telegram refused."""
    scope = BotCommandScopeChat(chat_id=chat_id)
    try:
        for code, lang in _menu_languages(t):
            if moderator:
                commands = bot_commands(t, lang, moderator=True)
                await bot.set_my_commands(commands, scope=scope, language_code=code)
            else:
                await bot.delete_my_commands(scope=scope, language_code=code)
    except TelegramAPIError as exc:
        # A user who never opened the bot has no chat yet; their menu follows on /start.
        log.warning("command menu of chat %s not updated: %s", chat_id, exc)
        return False
    return True


# --------------------------------------------------------------------------- callback data


class ChannelsCb(CallbackData, prefix="ch"):
    """The channel list: t = toggle subscription, p = show page, k = open kinds."""

    action: str
    channel_id: RowId = 0
    page: RowId = 0


class KindsCb(CallbackData, prefix="kd"):
    """Toggle one group of event kinds of a subscription; group "done" closes."""

    channel_id: RowId
    group: str


class LangCb(CallbackData, prefix="lg"):
    code: str


class SettingsCb(CallbackData, prefix="se"):
    """d = toggle the weekly digest, l = choose the language."""

    action: str


class MuteCb(CallbackData, prefix="mu"):
    period: str


class StopCb(CallbackData, prefix="st"):
    action: str  # yes / no


class UnwatchCb(CallbackData, prefix="uw"):
    action: str  # ask / yes / no
    channel_id: RowId


class BroadcastCb(CallbackData, prefix="bc"):
    action: str  # yes / no
    preview_id: RowId


class DigestRunCb(CallbackData, prefix="dr"):
    action: str  # yes / no


ALL_CALLBACKS: tuple[type[CallbackData], ...] = (
    ChannelsCb,
    KindsCb,
    LangCb,
    SettingsCb,
    MuteCb,
    StopCb,
    UnwatchCb,
    BroadcastCb,
    DigestRunCb,
)


# --------------------------------------------------------------------------- keyboards


def button_title(channel: Channel) -> str:
    title = (channel.title or "").strip()
    if not title:
        title = f"@{channel.username}" if channel.username else f"#{channel.tg_id}"
    return truncate(" ".join(title.split()), BUTTON_TITLE_MAX)


def page_count(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def page_slice(items: Sequence[Channel], page: int) -> tuple[Sequence[Channel], int]:
    """The channels of `page` (clamped to the existing pages) and the page shown."""
    page = min(max(page, 0), page_count(len(items)) - 1)
    return items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE], page


def channels_keyboard(
    t: Translator,
    lang: str,
    channels: Sequence[Channel],
    subscribed: set[int],
    page: int,
) -> InlineKeyboardMarkup | None:
    shown, page = page_slice(channels, page)
    if not shown:
        return None
    b = InlineKeyboardBuilder()
    for ch in shown:
        on = ch.id in subscribed
        key = "kb-subscribed" if on else "kb-subscribe"
        row = [
            InlineKeyboardButton(
                text=t.get(lang, key, title=button_title(ch)),
                callback_data=ChannelsCb(action="t", channel_id=ch.id, page=page).pack(),
            )
        ]
        if on:
            row.append(
                InlineKeyboardButton(
                    text=t.get(lang, "kb-kinds"),
                    callback_data=ChannelsCb(action="k", channel_id=ch.id, page=page).pack(),
                )
            )
        b.row(*row)
    pages = page_count(len(channels))
    if pages > 1:
        nav = []
        if page > 0:
            nav.append(
                InlineKeyboardButton(
                    text=t.get(lang, "kb-prev"),
                    callback_data=ChannelsCb(action="p", page=page - 1).pack(),
                )
            )
        nav.append(
            InlineKeyboardButton(
                text=t.get(lang, "kb-page", page=page + 1, total=pages),
                callback_data=ChannelsCb(action="p", page=page).pack(),
            )
        )
        if page < pages - 1:
            nav.append(
                InlineKeyboardButton(
                    text=t.get(lang, "kb-next"),
                    callback_data=ChannelsCb(action="p", page=page + 1).pack(),
                )
            )
        b.row(*nav)
    return b.as_markup()


def kinds_keyboard(
    t: Translator, lang: str, channel_id: int, groups: Iterable[str]
) -> InlineKeyboardMarkup:
    chosen = set(groups)
    b = InlineKeyboardBuilder()
    for group in kinds.GROUPS:
        key = "kb-kind-on" if group in chosen else "kb-kind-off"
        name = t.get(lang, "kind-name", group=group)
        b.row(
            InlineKeyboardButton(
                text=t.get(lang, key, name=name),
                callback_data=KindsCb(channel_id=channel_id, group=group).pack(),
            )
        )
    b.row(
        InlineKeyboardButton(
            text=t.get(lang, "kb-done"),
            callback_data=KindsCb(channel_id=channel_id, group="done").pack(),
        )
    )
    return b.as_markup()


def language_keyboard(t: Translator) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for code in t.languages:
        b.button(text=t.get(code, "lang-name"), callback_data=LangCb(code=code))
    return b.as_markup()


def settings_keyboard(t: Translator, lang: str, digest_enabled: bool) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    key = "kb-digest-turn-off" if digest_enabled else "kb-digest-turn-on"
    b.row(InlineKeyboardButton(text=t.get(lang, key), callback_data=SettingsCb(action="d").pack()))
    b.row(
        InlineKeyboardButton(
            text=t.get(lang, "kb-language"), callback_data=SettingsCb(action="l").pack()
        )
    )
    b.row(
        InlineKeyboardButton(
            text=t.get(lang, "kb-channels"), callback_data=ChannelsCb(action="p").pack()
        )
    )
    return b.as_markup()


def start_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    b.row(
        InlineKeyboardButton(
            text=t.get(lang, "kb-channels"), callback_data=ChannelsCb(action="p").pack()
        ),
        InlineKeyboardButton(
            text=t.get(lang, "kb-language"), callback_data=SettingsCb(action="l").pack()
        ),
    )
    return b.as_markup()


def mute_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for period in MUTE_CHOICES:
        b.button(text=t.get(lang, f"kb-mute-{period}"), callback_data=MuteCb(period=period))
    return b.as_markup()


def confirm_keyboard(
    t: Translator, lang: str, yes: CallbackData, no: CallbackData, *, yes_key: str = "kb-yes"
) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    b.row(
        InlineKeyboardButton(text=t.get(lang, yes_key), callback_data=yes.pack()),
        InlineKeyboardButton(text=t.get(lang, "kb-cancel"), callback_data=no.pack()),
    )
    return b.as_markup()


def unwatch_keyboard(t: Translator, lang: str, channels: Sequence[Channel]) -> InlineKeyboardMarkup:
    b = InlineKeyboardBuilder()
    for ch in channels[:90]:
        b.row(
            InlineKeyboardButton(
                text=t.get(lang, "kb-unwatch", title=button_title(ch)),
                callback_data=UnwatchCb(action="ask", channel_id=ch.id).pack(),
            )
        )
    return b.as_markup()
