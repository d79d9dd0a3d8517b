"""Everyone: /start, /help, /lang, /settings, /stop."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import BotConfig
from bot.filters import is_moderator
from bot.handlers.base import (
    MAX_REPLY_MESSAGES,
    SubscriberFields,
    display_name,
    echo,
    fmt_time,
    link,
    query_chat,
    quoted_keywords,
    send,
    show,
    subscriber_fields,
    toast,
)
from bot.handlers.confirm import PressOnce, ask, confirmed
from bot.handlers.targets import still_linked
from bot.i18n import Translator
from bot.keyboards import (
    LangCb,
    SettingsCb,
    StopCb,
    language_keyboard,
    set_chat_menu,
    settings_keyboard,
    start_keyboard,
)
from bot.render import esc
from bot.textsplit import split_html
from storage import subscribers
from storage.db import SessionMaker, transaction
from storage.models import Subscriber


async def start(
    message: Message,
    bot: Bot,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    user = message.from_user

    async def work(s: AsyncSession) -> tuple[str, bool]:
        sub, created = await subscribers.get_or_create(
            s, message.chat.id, **subscriber_fields(user, lang)
        )
        subscribers.clear_blocked(sub)
        return sub.language, created

    language, created = await transaction(sessions, work)
    lang = language if language in t.languages else lang
    key = "start-welcome" if created else "start-again"
    await send(message, t.get(lang, key, name=echo(display_name(user))), start_keyboard(t, lang))
    if user is not None and await is_moderator(sessions, config, user.id):
        await set_chat_menu(bot, t, message.chat.id, moderator=True)


async def help_(
    message: Message,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    text = t.get(lang, "help-subscriber")
    if message.from_user and await is_moderator(sessions, config, message.from_user.id):
        text += "\n\n" + t.get(lang, "help-moderator")
    await send(message, text)


# --------------------------------------------------------------------------- language


async def _set_language(
    sessions: SessionMaker, chat_id: int, fields: SubscriberFields, code: str
) -> None:
    async def work(s: AsyncSession) -> None:
        sub, _ = await subscribers.get_or_create(s, chat_id, **fields)
        subscribers.set_language(sub, code)

    await transaction(sessions, work)


async def lang_command(
    message: Message,
    chat_id: int,
    command: CommandObject,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    arg = (command.args or "").strip().lower()
    if not arg:
        await send(message, t.get(lang, "lang-choose"), language_keyboard(t))
        return
    if arg not in t.languages:
        await send(
            message,
            t.get(lang, "lang-unknown", code=echo(arg), languages=", ".join(t.languages)),
            language_keyboard(t),
        )
        return
    await _set_language(sessions, chat_id, subscriber_fields(message.from_user, arg), arg)
    await send(message, t.get(arg, "lang-set"))


async def lang_pressed(
    query: CallbackQuery,
    callback_data: LangCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
) -> None:
    code = callback_data.code
    if code not in t.languages:
        await toast(query, t.get(lang, "stale-button"), alert=True)
        return
    chat_id = query_chat(query)
    await _set_language(sessions, chat_id, subscriber_fields(query.from_user, code), code)
    await toast(query)
    await show(query, t.get(code, "lang-set"))


# --------------------------------------------------------------------------- settings


async def settings_lines(
    sessions: SessionMaker, config: BotConfig, t: Translator, lang: str, chat_id: int
) -> tuple[list[str], list[str], bool]:
    """The /settings summary: (head lines, one line per subscription, digest on)."""
    async with sessions() as s:
        sub = await subscribers.by_chat(s, chat_id)
        subs = await subscribers.subscriptions(s, sub.id) if sub else []
    digest_on = sub.digest_enabled if sub else True
    head = [
        t.get(lang, "settings-header"),
        t.get(lang, "settings-language", language=t.get(lang, "lang-name")),
        t.get(lang, "settings-digest", state="on" if digest_on else "off"),
    ]
    if sub is not None and subscribers.is_muted(sub):
        until = fmt_time(sub.muted_until, config.tz, t, lang)
        head.append(t.get(lang, "settings-muted", until=esc(until)))
    else:
        head.append(t.get(lang, "settings-not-muted"))
    if not subs:
        head.append(t.get(lang, "settings-no-subscriptions"))
    else:
        head.append(t.get(lang, "settings-subscriptions", count=len(subs)))
    lines = []
    for subscription, channel in subs:
        names = [t.get(lang, "kind-name", group=g) for g in subscription.event_kinds]
        kinds_text = ", ".join(names) if names else t.get(lang, "kinds-none")
        if subscription.keywords:
            filters = quoted_keywords(subscription.keywords)
        else:
            filters = t.get(lang, "filters-all")
        lines.append(
            t.get(
                lang,
                "settings-subscription",
                channel=link(channel),
                kinds=kinds_text,
                filters=filters,
            )
        )
    return head, lines, digest_on


async def settings_messages(
    sessions: SessionMaker, config: BotConfig, t: Translator, lang: str, chat_id: int
) -> tuple[list[str], bool]:
    """/settings as messages (the last one gets the buttons) and whether the digest is on."""
    head, lines, digest_on = await settings_lines(sessions, config, t, lang, chat_id)
    chunks = split_html(["\n".join(head), *lines])
    if len(chunks) > 1:
        chunks = chunks[: MAX_REPLY_MESSAGES - 1]
        chunks.append(t.get(lang, "settings-actions", state="on" if digest_on else "off"))
    return chunks, digest_on


async def settings_command(
    message: Message,
    chat_id: int,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    chunks, digest_on = await settings_messages(sessions, config, t, lang, chat_id)
    for chunk in chunks[:-1]:
        await send(message, chunk)
    await send(message, chunks[-1], settings_keyboard(t, lang, digest_on))


async def settings_digest(
    query: CallbackQuery,
    sessions: SessionMaker,
    config: BotConfig,
    t: Translator,
    lang: str,
) -> None:
    chat_id = query_chat(query)

    async def work(s: AsyncSession) -> bool:
        sub, _ = await subscribers.get_or_create(
            s, chat_id, **subscriber_fields(query.from_user, lang)
        )
        subscribers.set_digest(sub, not sub.digest_enabled)
        return sub.digest_enabled

    enabled = await transaction(sessions, work)
    await toast(query, t.get(lang, "digest-on" if enabled else "digest-off"))
    chunks, _ = await settings_messages(sessions, config, t, lang, chat_id)
    if len(chunks) > 1:  # the summary is longer than one message: show just the switch
        chunks = [t.get(lang, "settings-actions", state="on" if enabled else "off")]
    await show(query, chunks[0], settings_keyboard(t, lang, enabled))


async def settings_language(query: CallbackQuery, t: Translator, lang: str) -> None:
    await toast(query)
    await show(query, t.get(lang, "lang-choose"), language_keyboard(t))


# --------------------------------------------------------------------------- leaving


def _with(text: str, note: str) -> str:
    return f"{text}\n\n{note}" if note else text


async def stop(
    message: Message,
    command: CommandObject,
    sessions: SessionMaker,
    subscriber: Subscriber | None,
    t: Translator,
    lang: str,
) -> None:
    """/stop ends this chat's alerts; the channels its user linked keep theirs (said so)."""
    user = message.from_user
    note = ""
    if message.chat.type == "private" and user is not None:
        name = (command.args or "").split(maxsplit=1)[0] if command.args else ""
        if name.startswith("@"):
            async with sessions() as s:
                target = await subscribers.channel_target(s, name)
            if target is not None:  # a linked channel is stopped by unlinking it
                await send(message, t.get(lang, "stop-target", channel=echo(name)))
                return
        note = await still_linked(sessions, t, lang, user.id)
    if subscriber is None:
        await send(message, _with(t.get(lang, "stop-nothing"), note))
        return
    text = _with(t.get(lang, "stop-confirm"), note)
    await ask(message, t, lang, text, StopCb, "kb-stop-yes")


async def stop_pressed(
    query: CallbackQuery,
    callback_data: StopCb,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    once: PressOnce,
) -> None:
    if not await confirmed(query, callback_data.action, once, t, lang, "stop-cancelled"):
        return
    await toast(query)
    chat_id = query_chat(query)

    async def work(s: AsyncSession) -> bool:
        return await subscribers.delete_all(s, chat_id)

    deleted = await transaction(sessions, work)
    private = chat_id == query.from_user.id
    note = await still_linked(sessions, t, lang, query.from_user.id) if private else ""
    await show(query, _with(t.get(lang, "stop-done" if deleted else "stop-nothing"), note))


def get_router() -> Router:
    router = Router(name="common")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help", ignore_case=True))
    router.message.register(lang_command, Command("lang", ignore_case=True))
    router.callback_query.register(lang_pressed, LangCb.filter())
    router.message.register(settings_command, Command("settings", ignore_case=True))
    router.callback_query.register(settings_digest, SettingsCb.filter(F.action == "d"))
    router.callback_query.register(settings_language, SettingsCb.filter(F.action == "l"))
    router.message.register(stop, Command("stop", ignore_case=True))
    router.callback_query.register(stop_pressed, StopCb.filter())
    return router
