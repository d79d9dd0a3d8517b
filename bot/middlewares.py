"""Middlewares: per-user throttling, and the subscriber and language every handler sees.

Order (both are outer middlewares, so they run before any filter):

1. `Throttle` — a token bucket per user (or per chat posted as), in memory, no
   database: a chat that floods the bot gets one "slow down" and is then ignored until
   its bucket refills.
2. `SubscriberContext` — loads the chat's subscriber (or None: rows are created by
   the handlers that write, so a stray message leaves nothing behind), injects
   `subscriber` and `lang`, clears `blocked_at` of a user who writes again, answers
   banned users with a single refusal, and ignores chats other than private chats,
   groups and supergroups (what a group may ask is `bot.filters.GroupAdminsOnly`'s).
   `chat_id` is the chat whose subscriptions a command manages: the chat itself, or
3. `TargetContext` — a channel linked with /target, named first in a private command
   (`/subscribe @ourchannel @watched`), once Telegram confirms the sender is still one of
   its admins (getChatMember, on every call). The handler then sees the command without
   that name, `chat_id` and `subscriber` of the channel; its replies carry no buttons
   (a button press would change the private chat) and say which channel they are about.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import is_chat_admin
from bot.handlers.base import TARGET_MARK, send, subscriber_lang, toast
from bot.i18n import Translator
from bot.render import esc
from storage import subscribers
from storage.db import SessionMaker, transaction
from storage.models import Subscriber

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
TALKS_IN = frozenset({"private", "group", "supergroup"})


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    warned: bool = False


class Throttle(BaseMiddleware):
    """At most `burst` updates at once per user, refilled at `rate` per second."""

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 5,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_users = max_users
        self._buckets: dict[int, _Bucket] = {}

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn): warn is True for the first refused update of a flood."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self.max_users:
                self._prune(now)
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        return False, warn

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate if self.rate > 0 else 0.0
        self._buckets = {u: b for u, b in self._buckets.items() if now - b.stamp < full}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        # Posted as a chat, `from` is Telegram's placeholder (@GroupAnonymousBot for every
        # anonymous admin of every group): the chat posted as is who sends.
        poster = event.sender_chat if isinstance(event, Message) else None
        allowed, warn = self.allow(poster.id if poster is not None else user.id)
        if allowed:
            return await handler(event, data)
        log.info("throttled user %s", user.id)
        if warn:
            t: Translator = data["t"]
            text = t.get(t.pick(user.language_code), "throttled")
            if isinstance(event, Message):
                await send(event, text)
            elif isinstance(event, CallbackQuery):
                await toast(event, text)
        elif isinstance(event, CallbackQuery):
            await toast(event)
        return None


class SubscriberContext(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        t: Translator = data["t"]
        if isinstance(event, CallbackQuery) and chat is None and user is not None:
            # A button under a message Telegram no longer shows us: the user's own chat.
            chat_id = user.id
        elif chat is None or chat.type not in TALKS_IN or user is None:
            return None  # channels post, they do not talk to the bot
        else:
            chat_id = chat.id
        sessions: SessionMaker = data["sessions"]
        async with sessions() as s:
            subscriber = await subscribers.by_chat(s, chat_id)
        private = chat is None or chat.type == "private"
        # A group is given up or resumed by my_chat_member, not by anyone writing in it.
        if private and subscriber is not None and subscriber.blocked_at is not None:
            subscriber = await self._unblock(sessions, chat_id) or subscriber
        lang = subscriber_lang(t, subscriber, t.pick(user.language_code if user else None))
        data["subscriber"] = subscriber
        data["chat_id"] = chat_id
        data["lang"] = lang
        if (
            subscriber is not None
            and subscriber.banned_at is not None
            and (user is None or user.id not in data["config"].moderator_ids)
        ):
            text = t.get(lang, "banned")
            if isinstance(event, Message):
                await send(event, text)
            elif isinstance(event, CallbackQuery):
                await toast(event, text, alert=True)
            return None
        return await handler(event, data)

    @staticmethod
    async def _unblock(sessions: SessionMaker, chat_id: int) -> Subscriber | None:
        """A user who writes to the bot has unblocked it."""

        async def work(s: AsyncSession) -> Subscriber | None:
            sub = await subscribers.by_chat(s, chat_id)
            if sub is not None:
                subscribers.clear_blocked(sub)
            return sub

        return await transaction(sessions, work)


# Commands that manage a chat's rules without a channel argument, and those taking one.
TARGET_PLAIN = frozenset({"lang", "digest", "mute", "unmute", "settings", "channels"})
TARGET_WITH_CHANNEL = frozenset({"subscribe", "unsubscribe", "filters", "kinds"})


class TargetContext(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        if not isinstance(event, Message) or chat is None or chat.type != "private" or not user:
            return await handler(event, data)
        words = (event.text or "").split(maxsplit=2)
        if len(words) < 2 or not words[1].startswith("@"):
            return await handler(event, data)
        command = words[0][1:].split("@", 1)[0].lower()
        rest = words[2] if len(words) > 2 else ""
        if command not in TARGET_PLAIN and not (command in TARGET_WITH_CHANNEL and rest):
            return await handler(event, data)
        sessions: SessionMaker = data["sessions"]
        async with sessions() as s:
            target = await subscribers.channel_target(s, words[1])
        if target is None:
            return await handler(event, data)  # a watched channel's name, not a target
        t: Translator = data["t"]
        if not await is_chat_admin(data["bot"], target.chat_id, user.id):
            await send(event, t.get(data["lang"], "target-not-admin", channel=esc(words[1])))
            return None
        data["chat_id"] = target.chat_id
        data["subscriber"] = target
        text = f"{words[0]} {rest}".rstrip()
        copy = event.model_copy(update={"text": text, TARGET_MARK: target.first_name or words[1]})
        return await handler(copy, data)
