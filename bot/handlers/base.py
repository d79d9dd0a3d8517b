"""What every handler needs: replies that survive Telegram's limits, escaping, argument parsing."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Required, TypedDict, TypeVar
from zoneinfo import ZoneInfo

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import CommandObject, Filter
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    User,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.render import ChannelRef, channel_link, esc, label_name
from bot.textsplit import MESSAGE_LIMIT, split_html, truncate
from collectors.handles import Handle, HandleError, parse_handle
from storage import channels
from storage.db import SessionMaker
from storage.models import Channel, Subscriber

log = logging.getLogger(__name__)
T = TypeVar("T")

# A reply refused with 429 is retried after Telegram's `retry_after`, if it is this short.
REPLY_RETRY_MAX_WAIT = 30.0
REPLY_ATTEMPTS = 3
# Long listings go out as at most this many messages.
MAX_REPLY_MESSAGES = 4
# Echoed user input is clipped to this many characters before escaping.
ECHO_MAX = 64
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


# Fluent renders "{???}" for a placeable value over 2500 characters; stay below it.
PLACEABLE_MAX = 2400


def quoted_keywords(keywords: Sequence[str]) -> str:
    """Keyword filters as “a”, “b” (HTML), each cut with "…" so that all of them fit
    into one Fluent placeable once escaped."""
    budget = max(8, PLACEABLE_MAX // max(1, len(keywords)) - 4)
    return ", ".join(f"“{_esc_within(k, budget)}”" for k in keywords)


def _esc_within(text: str, budget: int) -> str:
    out = esc(text)
    if len(out) <= budget:
        return out
    cut = text
    while cut and len(esc(cut)) + 1 > budget:
        cut = cut[:-1]
    return esc(cut) + "…"


def plain(text: str) -> str:
    """User text fit for storing: control characters other than newline and tab removed."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc").strip()


def echo(value: str, limit: int = ECHO_MAX) -> str:
    """User input as it may be shown back: one line, clipped, escaped."""
    return esc(truncate(" ".join(value.split()), limit))


async def _with_retry(call_factory: Callable[[], Awaitable[T]], what: str) -> T | None:
    """Make a Bot API call, waiting out short flood limits; None when it could not be made."""
    for attempt in range(1, REPLY_ATTEMPTS + 1):
        try:
            return await call_factory()
        except TelegramRetryAfter as exc:
            if exc.retry_after > REPLY_RETRY_MAX_WAIT or attempt == REPLY_ATTEMPTS:
                log.warning("%s dropped: flood limited for %ss", what, exc.retry_after)
                return None
            await asyncio.sleep(exc.retry_after)
        except TelegramForbiddenError as exc:
            log.info("%s not delivered: %s", what, exc.message)
            return None
    return None


# Set (to the channel's title) on a command that manages a linked channel (TargetContext).
TARGET_MARK = "chanwatch_target"


def about_target(message: Message) -> bool:
    """Whether the command manages a linked channel: its answer can carry no buttons."""
    return TARGET_MARK in (message.model_extra or {})


async def send(
    message: Message, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer in the message's chat (HTML), retrying when Telegram asks us to wait.

    About a linked channel, the answer says so and has no buttons: they would act on
    the private chat they are pressed in.
    """
    target = (message.model_extra or {}).get(TARGET_MARK)
    if target is not None:
        text, markup = f"📣 <b>{esc(target)}</b>\n{text}", None
    result = await _with_retry(
        lambda: message.answer(
            text, parse_mode="HTML", reply_markup=markup, link_preview_options=NO_PREVIEW
        ),
        "reply",
    )
    return result if isinstance(result, Message) else None


async def send_lines(message: Message, lines: Sequence[str]) -> None:
    """A listing (HTML lines) in as few messages as Telegram's length limit allows."""
    chunks = split_html([line for line in lines if line], MESSAGE_LIMIT)
    for chunk in chunks[:MAX_REPLY_MESSAGES]:
        await send(message, chunk)


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the pressed message with `text` (or send it anew when it cannot be edited)."""
    msg = query.message
    if isinstance(msg, Message):
        try:
            await _with_retry(
                lambda: msg.edit_text(
                    text, parse_mode="HTML", reply_markup=markup, link_preview_options=NO_PREVIEW
                ),
                "edit",
            )
            return
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return
            log.info("could not edit message %s: %s", msg.message_id, exc.message)
    if query.from_user is not None and query.bot is not None:
        bot = query.bot
        chat_id = msg.chat.id if msg is not None else query.from_user.id
        await _with_retry(
            lambda: bot.send_message(
                chat_id,
                text,
                parse_mode="HTML",
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            ),
            "reply",
        )


async def toast(query: CallbackQuery, text: str = "", *, alert: bool = False) -> None:
    """Answer the button press (once); a lost answer only leaves the spinner running."""
    try:
        await query.answer(truncate(text, 190) if text else None, show_alert=alert)
    except (TelegramBadRequest, TelegramRetryAfter) as exc:
        log.info("callback answer lost: %s", exc)


# --------------------------------------------------------------------------- users


def actor_id(event: Message | CallbackQuery) -> int:
    """Who sent a message or pressed a button (0 when Telegram names nobody)."""
    return event.from_user.id if event.from_user else 0


def display_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.first_name or (user.username or "")


class SubscriberFields(TypedDict, total=False):
    """The keyword arguments of storage.subscribers.get_or_create that a chat's user gives."""

    user_id: int | None
    username: str | None
    first_name: str
    language: Required[str]


def subscriber_fields(user: User | None, lang: str) -> SubscriberFields:
    if user is None:
        return {"language": lang}
    return {
        "user_id": user.id,
        "username": user.username,
        "first_name": user.first_name or "",
        "language": lang,
    }


def query_chat(query: CallbackQuery) -> int:
    """The chat a button was pressed in (its message may be too old for Telegram to send)."""
    return query.message.chat.id if query.message else query.from_user.id


# --------------------------------------------------------------------------- channels


def link(channel: Channel) -> str:
    return channel_link(ChannelRef.of(channel))


def labels_text(t: Translator, lang: str, channel: Channel) -> str:
    names = [label_name(t, lang, label) for label in sorted(channel.labels)]
    return esc(", ".join(names)) if names else ""


def state_text(t: Translator, lang: str, channel: Channel) -> str:
    if channel.reachable:
        return t.get(lang, "channel-reachable")
    return t.get(lang, "channel-unreachable", reason=esc(channel.unavailable_reason or "unknown"))


def handle_error_text(t: Translator, lang: str, err: HandleError, raw: str) -> str:
    return t.get(lang, "handle-error", code=err.code, text=echo(raw))


def parse_channel(raw: str) -> Handle:
    """`parse_handle`, but any malformed text is a HandleError("invalid")."""
    try:
        return parse_handle(raw)
    except HandleError:
        raise
    except ValueError:  # urlsplit refuses some texts ("a[b") with a plain ValueError
        raise HandleError("invalid", raw) from None


async def find_channel(session: AsyncSession, handle: Handle) -> Channel | None:
    """The channel a handle names: by username (any case) or by Telegram id."""
    if handle.username:
        return await channels.find(session, handle.username)
    assert handle.tg_id is not None
    return await channels.by_tg_id(session, handle.tg_id)


def fmt_time(value: datetime | None, tz: ZoneInfo, t: Translator, lang: str) -> str:
    if value is None:
        return t.get(lang, "time-never")
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def subscriber_lang(t: Translator, subscriber: Subscriber | None, fallback: str) -> str:
    if subscriber is not None and subscriber.language in t.languages:
        return subscriber.language
    return fallback


def split_args(args: str | None) -> tuple[str, str]:
    """("first word", "the rest") of a command's arguments."""
    text = (args or "").strip()
    if not text:
        return "", ""
    parts = text.split(maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class ChannelArg:
    """A command's first argument found among the known channels, and the words after it."""

    channel: Channel
    raw: str
    rest: str


class ChannelArgument(Filter):
    """A command naming a known channel first (`/kinds @name ...`), as aiogram's
    context_addition_from_filter example does: the handler receives `named`.

    No argument: the filter does not match, so the handler registered next for the same
    command (its usage) answers. A malformed or unknown channel: the user is told why and
    `named` is None, so that no other handler answers the same command too.

    `unwatched`: the answer (given the argument as `channel`) when the channel is not
    watched (or not known at all), for commands that act on watched channels only.
    """

    def __init__(self, *, unwatched: str | None = None) -> None:
        self.unwatched = unwatched

    async def __call__(
        self,
        message: Message,
        command: CommandObject,
        sessions: SessionMaker,
        t: Translator,
        lang: str,
    ) -> bool | dict[str, ChannelArg | None]:
        raw, rest = split_args(command.args)
        if not raw:
            return False
        found = await known_channel(message, sessions, t, lang, raw, self.unwatched)
        return {"named": ChannelArg(found, raw, rest) if found is not None else None}


def usage_reply(key: str, **args: object) -> Callable[[Message, Translator, str], Awaitable[None]]:
    """A handler that answers a command given without its argument with how to use it."""

    async def reply(message: Message, t: Translator, lang: str) -> None:
        await send(message, t.get(lang, key, **args))

    return reply


async def known_channel(
    message: Message,
    sessions: SessionMaker,
    t: Translator,
    lang: str,
    raw: str,
    unwatched: str | None = None,
) -> Channel | None:
    """The archived channel an argument names (a watched one, when `unwatched` is the
    answer to any other), or None after telling the user why not."""
    try:
        handle = parse_channel(raw)
    except HandleError as err:
        await send(message, handle_error_text(t, lang, err, raw))
        return None
    async with sessions() as s:
        found = await find_channel(s, handle)
    if unwatched is not None and (found is None or not found.watched):
        await send(message, t.get(lang, unwatched, channel=echo(raw)))
        return None
    if found is None:
        await send(message, t.get(lang, "channel-unknown", channel=echo(raw)))
    return found
