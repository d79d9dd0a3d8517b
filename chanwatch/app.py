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
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramAPIError, TelegramNotFound, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiohttp import web as aioweb
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine
from telethon import TelegramClient

from bot.delivery import Sender
from bot.digest.service import DigestService
from bot.dispatcher import build_dispatcher, set_commands
from bot.filters import moderator_chat_ids
from bot.i18n import Translator
from bot.notices import tell_moderators
from bot.routing import EventRouter
from chanwatch.health import start_health
from chanwatch.keys import Signer, load_or_create
from chanwatch.secrets import setup_logging
from chanwatch.settings import Settings
from chanwatch.supervise import Beat, Supervisor
from chanwatch.telegram import build_bot, build_client
from chanwatch.tsa import Timestamper
from collectors.base import CollectorBase
from collectors.collector import CHANNELS, HISTORY, Collector, CollectorConfig
from collectors.downloads import DownloadConfig, Downloader
from collectors.flood import FloodGate
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from storage import checkpoints, ledger
from storage.db import SessionMaker, create_engine, ensure_sqlite_dir, session_factory, transaction
from storage.mediastore import MediaStore
from storage.migrate import upgrade
from storage.models import Channel

log = logging.getLogger(__name__)
CHECKPOINT_MINUTES = 10


class NotLoggedIn(Exception):
    """The collector's Telegram account has no authorized session."""


class BotRejected(Exception):
    """Telegram refused the bot token (or the Bot API address is wrong): no use going on."""


class BotAPIUnreachable(Exception):
    """Polling could not start: the Bot API did not answer (the supervisor retries)."""


# How long each part may go without reporting progress before it counts as stale.
# Polling long-polls for POLLING_TIMEOUT seconds, so it reports at least that often.
POLLING_TIMEOUT = 10
PART_INTERVALS = {
    "polling": 3.0 * POLLING_TIMEOUT,
    "collector": 120.0,
    "router": 60.0,
    "sender": 60.0,
    "scheduler": 60.0,
    "downloads": 120.0,
    "webpreview": 120.0,
}
SCHEDULER_CHECK_SECONDS = 10.0


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionMaker
    translator: Translator
    bot: Bot
    # The account's collector (COLLECTOR=telethon or both) and the web preview's (web or both);
    # downloads go with the account (Telethon's download_media).
    client: TelegramClient | None
    downloads: Downloader | None
    collector: Collector | None
    web: WebCollector | None
    http: aiohttp.ClientSession | None
    router: EventRouter
    sender: Sender
    digests: DigestService
    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher
    supervisor: Supervisor
    signer: Signer
    timestamper: Timestamper
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    health: aioweb.AppRunner | None = None


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


def download_config(settings: Settings) -> DownloadConfig:
    total = settings.media_max_total_gb
    return DownloadConfig(
        max_file_bytes=int(settings.media_max_mb * 2**20),
        kinds=frozenset(settings.media_kinds),
        max_total_bytes=None if total is None else int(total * 2**30),
    )


def build_web_collector(
    settings: Settings,
    sessions: SessionMaker,
    http: aiohttp.ClientSession,
    *,
    notify: Callable[[], None] | None = None,
    account: Collector | None = None,
    clock: Callable[[], datetime] | None = None,
) -> WebCollector:
    """The web-preview collector; beside an account it covers only what the account cannot."""
    fetcher = Fetcher(
        http,
        settings.web_preview_base_url,
        HostBudget(settings.web_preview_rate),
        max_bytes=settings.web_preview_max_bytes,
    )
    if account is None:
        return WebCollector(
            fetcher, sessions, collector_config(settings), notify=notify, clock=clock
        )
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
        clock=clock,
    )


async def build_app(
    settings: Settings,
    *,
    client: TelegramClient | None = None,
    bot: Bot | None = None,
    clock: Callable[[], datetime] | None = None,
) -> App:
    """Every long-lived object, wired; the database is migrated first."""
    ensure_sqlite_dir(settings.database_url)
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    # Made at first start: every checkpoint of this installation is signed with it.
    signer = load_or_create(settings.signing_key_path)
    timestamper = Timestamper(sessions, settings.tsa_urls)
    translator = Translator.load()
    if bot is None:
        assert settings.bot_token is not None
        bot = build_bot(settings.bot_token.get_secret_value(), settings.bot_api_base_url)
    store = MediaStore(settings.media_dir)
    sender = Sender(
        bot,
        sessions,
        rate=settings.delivery_rate,
        per_chat=settings.delivery_per_chat_rate,
        paid_broadcast=settings.delivery_paid_broadcast,
        media_store=store,
    )
    router = EventRouter(sessions, translator, notify=sender.wake)
    kind = settings.collector_kind
    collector: Collector | None = None
    downloads: Downloader | None = None
    if kind in ("telethon", "both"):
        client = client or build_client(settings)
        gate = FloodGate()

        async def media_nearly_full(used: str) -> None:
            await tell_moderators(
                sessions, translator, settings.moderator_ids, "notice-media-nearly-full", used=used
            )
            sender.wake()

        downloads = Downloader(
            client,
            sessions,
            store,
            download_config(settings),
            gate=gate,
            warn_moderators=media_nearly_full,
            source=ledger.source_of(settings.telethon_session.stem, "download"),
        )
        collector = Collector(
            client,
            sessions,
            collector_config(settings),
            notify=router.wake,
            gate=gate,
            downloads=downloads,
            account=settings.telethon_session.stem,
            clock=clock,
        )
    else:
        client = None
    web: WebCollector | None = None
    http: aiohttp.ClientSession | None = None
    if kind in ("web", "both"):
        http = aiohttp.ClientSession()
        web = build_web_collector(
            settings, sessions, http, notify=router.wake, account=collector, clock=clock
        )
    digests = DigestService(sessions, translator, settings, wake_sender=sender.wake)
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    dispatcher = build_dispatcher(
        sessions=sessions,
        translator=translator,
        settings=settings,
        wake_sender=sender.wake,
        digests=digests,
        signer=signer,
    )
    return App(
        settings,
        engine,
        sessions,
        translator,
        bot,
        client,
        downloads,
        collector,
        web,
        http,
        router,
        sender,
        digests,
        scheduler,
        dispatcher,
        Supervisor(sessions),
        signer,
        timestamper,
    )


class _PollingReports(BaseRequestMiddleware):
    """Each answered getUpdates is the polling part's progress; a failed one is shown
    at once (aiogram itself keeps retrying it with backoff)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    async def __call__(self, make_request: Any, bot: Bot, method: Any) -> Any:
        if not isinstance(method, GetUpdates):
            return await make_request(bot, method)
        try:
            response = await make_request(bot, method)
        except Exception as exc:
            self.supervisor.failed("polling", f"Bot API: {type(exc).__name__}: {exc}"[:300])
            raise
        self.supervisor.beat("polling")
        return response


def supervise_parts(app: App) -> None:
    """Put every background part under the app's supervisor."""
    sup = app.supervisor

    async def polling(beat: Beat) -> None:
        run = asyncio.create_task(
            app.dispatcher.start_polling(
                app.bot,
                polling_timeout=POLLING_TIMEOUT,
                handle_signals=False,
                close_bot_session=False,
            )
        )
        try:
            await asyncio.shield(run)
        except TelegramAPIError as exc:  # aiogram's getMe before polling found no Bot API
            raise BotAPIUnreachable(f"Bot API: {type(exc).__name__}: {exc}") from exc
        except asyncio.CancelledError:
            # Cancelling start_polling would leave aiogram's own per-bot polling task
            # running (it keeps asking for updates after chanwatch stops): stop it the way
            # aiogram expects, then end.
            try:
                await app.dispatcher.stop_polling()
            except RuntimeError:  # not polling yet: nothing of aiogram's runs on its own
                run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
            raise

    async def sender(beat: Beat) -> None:
        await app.sender.recover()
        await app.sender.run(beat)

    async def scheduler(beat: Beat) -> None:
        # APScheduler runs its jobs on this loop; watch that it keeps doing so.
        if not app.scheduler.running:
            app.scheduler.start()
        while True:
            if not app.scheduler.running:
                raise RuntimeError("the digest scheduler stopped")
            beat()
            await asyncio.sleep(SCHEDULER_CHECK_SECONDS)

    app.bot.session.middleware(_PollingReports(sup))
    sup.add("polling", polling, interval=PART_INTERVALS["polling"])
    if app.collector is not None:
        sup.add("collector", app.collector.run, interval=PART_INTERVALS["collector"])
    if app.web is not None:
        sup.add("webpreview", app.web.run, interval=PART_INTERVALS["webpreview"])
    sup.add("router", app.router.run, interval=PART_INTERVALS["router"])
    sup.add("sender", sender, interval=PART_INTERVALS["sender"])
    sup.add("scheduler", scheduler, interval=PART_INTERVALS["scheduler"])
    if app.downloads is not None:
        sup.add("downloads", app.downloads.run, interval=PART_INTERVALS["downloads"])


async def start(app: App) -> None:
    """Start every part under supervision; returns once they run in the background."""
    if app.collector is not None:
        app.collector.attach()
    app.digests.schedule(app.scheduler)
    # Checkpoints and their timestamps run beside collection and never hold it up;
    # the supervised scheduler part starts the scheduler.
    app.scheduler.add_job(
        _checkpoints,
        "interval",
        args=[app],
        minutes=CHECKPOINT_MINUTES,
        next_run_time=datetime.now(app.settings.tz),
        id="checkpoints",
        max_instances=1,
        coalesce=True,
    )
    supervise_parts(app)
    await app.supervisor.start()
    if app.settings.health_port:
        app.health = await start_health(
            app.supervisor, app.settings.health_host, app.settings.health_port
        )
    app.tasks.append(asyncio.create_task(_catch_up_digests(app), name="digest-catch-up"))
    app.tasks.append(asyncio.create_task(_commands(app), name="commands"))


async def check_bot(bot: Bot) -> None:
    """Ask Telegram who the bot is: a rejected token ends chanwatch at once; an
    unreachable Bot API does not (polling retries it, and the status shows it)."""
    try:
        await bot.get_me()
    except TelegramUnauthorizedError:
        raise BotRejected(
            "Telegram rejected BOT_TOKEN (401 Unauthorized): copy the token from @BotFather"
        ) from None
    except TelegramNotFound:
        raise BotRejected(
            "the Bot API answered 404 to getMe: check BOT_API_BASE_URL and BOT_TOKEN"
        ) from None
    except TelegramAPIError as exc:  # network, 5xx: polling keeps trying with backoff
        log.warning("Bot API unreachable at start (%s); the bot keeps trying", exc)


async def _checkpoints(app: App) -> None:
    """Sign every finished UTC day, then ask the TSAs for the tokens still missing."""
    try:
        await transaction(app.sessions, lambda s: checkpoints.seal(s, app.signer))
        await app.timestamper.run_once()
    except Exception:  # the next run tries again; collection goes on meanwhile
        log.exception("checkpoint job failed")


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
    if app.health is not None:
        await app.health.cleanup()
        app.health = None
    # Parts first: a part that ends while the supervisor still runs counts as a crash.
    await app.supervisor.stop()
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
    if app.downloads is not None:
        await app.downloads.stop()
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
    assert settings.bot_token is not None
    bot = build_bot(settings.bot_token.get_secret_value(), settings.bot_api_base_url)
    try:
        await check_bot(bot)
    except BotRejected:
        await bot.session.close()
        raise
    app = await build_app(settings, bot=bot)
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
