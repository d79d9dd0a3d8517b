"""The composition root: builds settings' objects once and passes them in.

Nothing in chanwatch creates an engine, a bot, a client or a scheduler at import
time; everything is made here and handed to the parts that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine
from telethon import TelegramClient

from bot.delivery import Sender
from bot.digest.service import DigestService
from bot.dispatcher import build_dispatcher, set_commands
from bot.filters import moderator_chat_ids
from bot.i18n import Translator
from bot.routing import EventRouter
from chanwatch.secrets import setup_logging
from chanwatch.settings import Settings
from chanwatch.telegram import build_bot, build_client
from collectors.base import CollectorBase
from collectors.collector import CHANNELS, HISTORY, Collector, CollectorConfig
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from storage.db import SessionMaker, create_engine, ensure_sqlite_dir, session_factory
from storage.migrate import upgrade
from storage.models import Channel

log = logging.getLogger(__name__)


class NotLoggedIn(Exception):
    """The collector's Telegram account has no authorized session."""


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionMaker
    translator: Translator
    bot: Bot
    # The account's collector (COLLECTOR=telethon or both) and the web preview's (web or both).
    client: TelegramClient | None
    collector: Collector | None
    web: WebCollector | None
    http: aiohttp.ClientSession | None
    router: EventRouter
    sender: Sender
    digests: DigestService
    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def collector_config(settings: Settings) -> CollectorConfig:
    return CollectorConfig(
        join_cap=settings.join_cap,
        poll_min=settings.poll_min_seconds,
        poll_max=max(settings.poll_max_seconds, settings.poll_min_seconds),
        refresh_every=settings.refresh_seconds,
        reconcile_every=settings.reconcile_seconds,
        reconcile_window=timedelta(hours=settings.reconcile_window_hours),
        jump_pct=settings.subscribers_jump_pct,
        jump_window=timedelta(hours=settings.subscribers_jump_window_hours),
    )


def build_web_collector(
    settings: Settings,
    sessions: SessionMaker,
    http: aiohttp.ClientSession,
    *,
    notify: Callable[[], None] | None = None,
    account: Collector | None = None,
) -> WebCollector:
    """The web-preview collector; beside an account it covers only what the account cannot."""
    fetcher = Fetcher(
        http,
        settings.web_preview_base_url,
        HostBudget(settings.web_preview_rate),
        max_bytes=settings.web_preview_max_bytes,
    )
    if account is None:
        return WebCollector(fetcher, sessions, collector_config(settings), notify=notify)
    gate = account.gate

    def full(_ch: Channel) -> bool:
        # While the account is flood-waited the preview stands in for it; otherwise the
        # preview adds only its own news (withheld/restored) and never overwrites the API.
        return gate.remaining(HISTORY) > 0 or gate.remaining(CHANNELS) > 0

    return WebCollector(
        fetcher,
        sessions,
        collector_config(settings),
        notify=notify,
        full=full,
        answers_requests=lambda: False,  # the account resolves names (and their access hash)
    )


async def build_app(
    settings: Settings,
    *,
    client: TelegramClient | None = None,
    bot: Bot | None = None,
) -> App:
    """Every long-lived object, wired; the database is migrated first."""
    ensure_sqlite_dir(settings.database_url)
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    translator = Translator.load()
    if bot is None:
        assert settings.bot_token is not None
        bot = build_bot(settings.bot_token.get_secret_value(), settings.bot_api_base_url)
    sender = Sender(
        bot, sessions, rate=settings.delivery_rate, per_chat=settings.delivery_per_chat_rate
    )
    router = EventRouter(sessions, translator, notify=sender.wake)
    kind = settings.collector_kind
    collector: Collector | None = None
    if kind in ("telethon", "both"):
        client = client or build_client(settings)
        collector = Collector(client, sessions, collector_config(settings), notify=router.wake)
    else:
        client = None
    web: WebCollector | None = None
    http: aiohttp.ClientSession | None = None
    if kind in ("web", "both"):
        http = aiohttp.ClientSession()
        web = build_web_collector(settings, sessions, http, notify=router.wake, account=collector)
    digests = DigestService(sessions, translator, settings, wake_sender=sender.wake)
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    dispatcher = build_dispatcher(
        sessions=sessions,
        translator=translator,
        settings=settings,
        wake_sender=sender.wake,
        digests=digests,
    )
    return App(
        settings,
        engine,
        sessions,
        translator,
        bot,
        client,
        collector,
        web,
        http,
        router,
        sender,
        digests,
        scheduler,
        dispatcher,
    )


async def start(app: App) -> None:
    """Start every part; returns once they run in the background."""
    await app.router.start()
    await app.sender.start()
    for collector in collectors_of(app):
        await collector.start()
    app.digests.schedule(app.scheduler)
    app.scheduler.start()
    app.tasks.append(asyncio.create_task(_catch_up_digests(app), name="digest-catch-up"))
    app.tasks.append(asyncio.create_task(_commands(app), name="commands"))
    app.tasks.append(
        asyncio.create_task(
            app.dispatcher.start_polling(app.bot, handle_signals=False, close_bot_session=False),
            name="polling",
        )
    )


async def _catch_up_digests(app: App) -> None:
    try:
        await app.digests.catch_up()
    except Exception:  # a missed digest is retried at the next start or run
        log.exception("digest catch-up failed")


async def _commands(app: App) -> None:
    try:
        chats = await moderator_chat_ids(app.sessions, app.settings)
        await set_commands(app.bot, app.translator, chats)
    except Exception:  # menus are a convenience; the bot works without them
        log.exception("setting command menus failed")


async def stop(app: App) -> None:
    with contextlib.suppress(Exception):
        await app.dispatcher.stop_polling()
    for task in app.tasks:
        task.cancel()
    for task in app.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    app.tasks.clear()
    if app.scheduler.running:
        app.scheduler.shutdown(wait=False)
    for collector in collectors_of(app):
        await collector.stop()
    await app.router.stop()
    await app.sender.stop()
    if app.client is not None:
        with contextlib.suppress(Exception):
            await app.client.disconnect()
    if app.http is not None:
        await app.http.close()
    await app.bot.session.close()
    await app.engine.dispose()


async def run(settings: Settings) -> None:
    """`chanwatch run`: everything in one process until SIGINT or SIGTERM."""
    secrets = [s.get_secret_value() for s in (settings.bot_token, settings.telegram_api_hash) if s]
    setup_logging(settings.log_level, secrets)
    app = await build_app(settings)
    if app.client is not None:
        await _logged_in(app, settings)
    log.info("collectors: %s", settings.collector_kind)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    await start(app)
    log.info("chanwatch running")
    await stopping.wait()
    log.info("stopping")
    await stop(app)


async def _logged_in(app: App, settings: Settings) -> None:
    assert app.client is not None
    await app.client.connect()
    if not await app.client.is_user_authorized():
        await stop(app)
        raise NotLoggedIn(
            f"the Telegram session {settings.telethon_session} is not logged in: "
            "run `chanwatch login` first (or COLLECTOR=web, which needs no account)"
        )


def collectors_of(app: App) -> list[CollectorBase]:
    return [c for c in (app.collector, app.web) if c is not None]
