"""The bot end-to-end harness: simulated users talk over HTTP to real aiogram polling.

`make_env`/`env` start a dispatcher built by `bot.dispatcher` against the simulated Bot API
and the test database; `quick_watch` (autouse where a module imports it) shortens the
/watch wait. Test modules import these fixtures by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Sender
from bot.dispatcher import build_dispatcher
from bot.handlers import watchlist
from bot.i18n import Translator
from bot.routing import EventRouter
from chanwatch.app import bot_config
from chanwatch.settings import Settings
from simulator.botapi import BotAPILimits, BotAPISimulator, SentMessage
from storage import events as event_store
from storage import payloads
from storage.db import SessionMaker, transaction
from storage.models import AuditEntry, Base, Channel, Subscriber, Subscription
from storage.types import utcnow
from tests.harness import simulated_bot

MOD = 1001
USER = 2002
OTHER = 3003
ROOMY = BotAPILimits(per_chat_per_second=1000, per_chat_burst=1000, overall_burst=1000)


TRANSLATOR = Translator.load()


class FakeDigests:
    """Stands in for the digest service (another part of chanwatch)."""

    def __init__(self, has_content: bool = True, run_count: int = 3) -> None:
        self.has_content = has_content
        self.run_count = run_count
        self.asked: list[int] = []
        self.runs = 0

    async def digest_now(self, subscriber_id: int) -> bool:
        self.asked.append(subscriber_id)
        return self.has_content

    async def run_now(self, opened: Callable[[], Awaitable[None]] | None = None) -> int:
        self.runs += 1
        if opened is not None:
            await opened()
        return self.run_count


class BotEnv:
    """A running bot: the simulator, the dispatcher polling it, and the database."""

    def __init__(
        self,
        sim: BotAPISimulator,
        bot: Bot,
        sessions: SessionMaker,
        settings: Settings,
        digests: FakeDigests | None,
        throttle: tuple[float, int],
        signer: Any = None,
    ) -> None:
        self.sim = sim
        self.bot = bot
        self.sessions = sessions
        self.settings = settings
        self.t = TRANSLATOR
        self.wakes = 0
        self.handled: set[int] = set()
        self._changed = asyncio.Condition()
        self.dp: Dispatcher = build_dispatcher(
            sessions=sessions,
            translator=self.t,
            config=bot_config(settings),
            wake_sender=self._wake,
            digests=digests,
            signer=signer,
            throttle_rate=throttle[0],
            throttle_burst=throttle[1],
        )
        self._feed = self.dp.feed_update
        self.dp.feed_update = self._track  # type: ignore[method-assign]
        self._polling: asyncio.Task[None] | None = None

    def _wake(self) -> None:
        self.wakes += 1

    async def _track(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        """Outermost wrapper of update handling (error handlers included)."""
        try:
            return await self._feed(bot, update, **kwargs)
        finally:
            async with self._changed:
                self.handled.add(update.update_id)
                self._changed.notify_all()

    async def start(self) -> None:
        self._polling = asyncio.create_task(
            self.dp.start_polling(self.bot, handle_signals=False, close_bot_session=False)
        )

    async def stop(self) -> None:
        await self.dp.stop_polling()
        if self._polling is not None:
            await self._polling

    async def until_handled(self, update_id: int, timeout: float = 10.0) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: update_id in self.handled)

        await asyncio.wait_for(wait(), timeout)

    def received(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sim.received(chat_id) if not m.deleted]

    async def say(
        self,
        user: int,
        text: str,
        *,
        lang: str = "en",
        replies: int | None = None,
        timeout: float = 10.0,
    ) -> list[SentMessage]:
        """The user writes; returns the bot's new messages once the update is handled."""
        before = {m.message_id for m in self.sim.received(user)}
        update = self.sim.user_sends(user, text, language_code=lang)
        await self.until_handled(update["update_id"], timeout)
        new = [m for m in self.sim.received(user) if m.message_id not in before]
        if replies is not None:
            assert len(new) == replies, [m.text for m in new]
        return new

    async def press(
        self, user: int, message: SentMessage, data: str, *, lang: str = "en"
    ) -> tuple[SentMessage, dict[str, Any]]:
        """The user presses a button; (the message as it is now, the callback answer)."""
        query_id = self.sim.user_presses(user, message.message_id, data, language_code=lang)
        [update] = [
            u
            for u in self.sim.pending_updates()
            if (u.get("callback_query") or {}).get("id") == query_id
        ]
        await self.until_handled(update["update_id"])
        [answer] = [a for a in self.sim.callback_answers() if a["callback_query_id"] == query_id]
        [now] = [m for m in self.sim.received(user) if m.message_id == message.message_id]
        return now, answer

    def tr(self, lang: str, key: str, **args: Any) -> str:
        return self.t.get(lang, key, **args)


@pytest_asyncio.fixture
async def make_env(sessions: SessionMaker) -> AsyncIterator[Callable[..., Any]]:
    envs: list[tuple[BotEnv, Any]] = []

    async def make(
        *,
        digests: FakeDigests | None = None,
        throttle: tuple[float, int] = (1000.0, 1000),
        limits: BotAPILimits | None = ROOMY,
        signer: Any = None,
        **overrides: Any,
    ) -> BotEnv:
        ctx = simulated_bot(limits)
        sim, bot = await ctx.__aenter__()
        settings = Settings(_env_file=None, moderator_ids=(MOD,), **overrides)  # type: ignore[call-arg]
        env = BotEnv(sim, bot, sessions, settings, digests, throttle, signer)
        await env.start()
        envs.append((env, ctx))
        return env

    yield make
    for env, ctx in reversed(envs):
        await env.stop()
        await ctx.__aexit__(None, None, None)


@pytest_asyncio.fixture
async def env(make_env: Callable[..., Awaitable[BotEnv]]) -> BotEnv:
    return await make_env()


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchlist, "WATCH_TIMEOUT", 3.0)
    monkeypatch.setattr(watchlist, "WATCH_POLL_INTERVAL", 0.02)


async def add_channel(
    sessions: SessionMaker, username: str, title: str, *, tg_id: int, **fields: Any
) -> int:
    async def work(s: AsyncSession) -> int:
        ch = Channel(
            tg_id=tg_id,
            username=username,
            title=title,
            restriction_reasons=[],
            added_at=utcnow(),
            **fields,
        )
        s.add(ch)
        await s.flush()
        return ch.id

    return await transaction(sessions, work)


async def row_counts(sessions: SessionMaker) -> dict[str, int]:
    async with sessions() as s:
        return {
            table.name: int(await s.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


async def subscriber_of(sessions: SessionMaker, chat_id: int) -> Subscriber | None:
    async with sessions() as s:
        return await s.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))


async def subscription_of(
    sessions: SessionMaker, chat_id: int, channel_id: int
) -> Subscription | None:
    async with sessions() as s:
        return await s.scalar(
            select(Subscription)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.chat_id == chat_id, Subscription.channel_id == channel_id)
        )


async def audit_actions(sessions: SessionMaker) -> list[str]:
    async with sessions() as s:
        return list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def buttons(message: SentMessage) -> dict[str, str]:
    """Button text -> callback data."""
    markup = message.reply_markup or {}
    return {
        b["text"]: b["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    }


async def post_event(
    sessions: SessionMaker, channel_id: int, message_id: int, text: str, kind: str = "post.new"
) -> None:
    async def work(s: AsyncSession) -> None:
        await event_store.record(
            s,
            channel_id=channel_id,
            dedupe_key=f"{kind}:{channel_id}:{message_id}",
            payload=payloads.load(kind, {"message_id": message_id, "text": text}),
        )

    await transaction(sessions, work)


async def route_and_deliver(env: BotEnv) -> None:
    await EventRouter(env.sessions, env.t).route_pending()
    await Sender(env.bot, env.sessions, per_chat=1000).drain_once()
