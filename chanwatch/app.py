"""The composition root: builds settings' objects once and passes them in.

Nothing in chanwatch creates an engine, a bot, a client or a scheduler at import
time; everything is made here and handed to the parts that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
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

from bot.config import BotConfig
from bot.delivery import Sender
from bot.digest.service import DigestService
from bot.dispatcher import build_dispatcher, set_commands
from bot.filters import moderator_chat_ids
from bot.i18n import Translator
from bot.notices import tell_moderators
from bot.routing import EventRouter
from chanwatch.health import start_health
from chanwatch.heap import limit_arenas
from chanwatch.keys import Signer, load_or_create
from chanwatch.secrets import setup_logging
from chanwatch.settings import Settings
from chanwatch.supervise import Beat, PartRun, Supervisor
from chanwatch.telegram import build_bot, build_client
from chanwatch.tsa import Timestamper
from collectors.assignment import Assigner, Member
from collectors.base import CollectorBase, Covers
from collectors.collector import Collector, CollectorConfig
from collectors.downloads import DownloadConfig, Downloader
from collectors.flood import FloodGate
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from storage import assignments, checkpoints, coverage, ledger
from storage.db import SessionMaker, create_engine, ensure_sqlite_dir, session_factory, transaction
from storage.mediastore import MediaStore
from storage.migrate import upgrade

log = logging.getLogger(__name__)
CHECKPOINT_MINUTES = 10


class NotLoggedIn(Exception):
    """The collector's Telegram account has no authorized session."""


class BotRejected(Exception):
    """Telegram refused the bot token (or the Bot API address is wrong): no use going on."""


class BotAPIUnreachable(Exception):
    """Polling could not start: the Bot API did not answer (the supervisor retries)."""


# `chanwatch run --role ...`: each role is a set of supervised parts, so every role can run
# as a process of its own on one PostgreSQL. The checkpoint job signs days with the
# installation's key and runs on the digest's scheduler; downloads use the collector's
# Telegram account, so they go with it.
ROLES = ("collector", "bot", "router", "sender", "digest")
ROLE_PARTS = {
    "collector": ("assignment", "collector", "webpreview", "downloads"),
    "bot": ("polling",),
    "router": ("router",),
    "sender": ("sender",),
    "digest": ("scheduler",),
}
ALL_ROLES = frozenset(ROLES)


def parse_roles(values: list[str] | None) -> frozenset[str]:
    """`--role` values (repeatable, comma lists allowed; `all` or none = every role)."""
    names = [v.strip().lower() for raw in values or [] for v in raw.split(",") if v.strip()]
    unknown = [n for n in names if n != "all" and n not in ROLES]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}: use all, {', '.join(ROLES)}")
    if not names or "all" in names:
        return ALL_ROLES
    return frozenset(names)


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
    "assignment": 120.0,
}
SCHEDULER_CHECK_SECONDS = 10.0


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionMaker
    translator: Translator
    # Only the roles that talk to the Bot API (bot, sender) have a bot.
    bot: Bot | None
    # The account's collector (COLLECTOR=telethon or both) and the web preview's (web or both);
    # downloads go with the account (Telethon's download_media).
    client: TelegramClient | None
    downloads: Downloader | None
    collector: Collector | None
    web: WebCollector | None
    http: aiohttp.ClientSession | None
    router: EventRouter
    sender: Sender | None
    digests: DigestService
    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher | None
    supervisor: Supervisor
    # The installation's key: for the roles that sign (digest's checkpoints) or show it (bot).
    signer: Signer | None
    timestamper: Timestamper
    roles: frozenset[str] = ALL_ROLES
    assigner: Assigner | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    health: aioweb.AppRunner | None = None

    def runs(self, part: str) -> bool:
        return any(part in ROLE_PARTS[r] for r in self.roles)


def bot_config(settings: Settings) -> BotConfig:
    """The few settings the bot's handlers use."""
    return BotConfig(
        tz=settings.tz,
        moderator_ids=frozenset(settings.moderator_ids),
        media_dir=settings.media_dir,
        tsa_ca_certs=tuple(settings.tsa_ca_certs),
        collector_lease_seconds=settings.collector_lease_seconds,
    )


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
        flood_handover=settings.flood_handover_seconds,
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
    owner = settings.telethon_session.stem  # as the process's part rows
    if account is None:
        return WebCollector(
            fetcher, sessions, collector_config(settings), notify=notify, clock=clock, owner=owner
        )
    web = WebCollector(
        fetcher,
        sessions,
        collector_config(settings),
        notify=notify,
        # The preview reads in full what the account cannot; for the rest it adds only its
        # own news (withheld/restored) and never overwrites what the API gave.
        covers=web_covers(settings, account.account),
        answers_requests=lambda: False,  # the account resolves names (and their access hash)
        clock=clock,
        beside=account,
        owner=owner,
    )
    return web


def web_covers(settings: Settings, account: str) -> Covers:
    """The one decision both collectors follow with COLLECTOR=both (storage.coverage)."""
    return functools.partial(
        coverage.web_covers, account=account, poll_cap=settings.account_poll_cap
    )


async def build_app(
    settings: Settings,
    *,
    roles: frozenset[str] = ALL_ROLES,
    client: TelegramClient | None = None,
    bot: Bot | None = None,
    clock: Callable[[], datetime] | None = None,
) -> App:
    """Every long-lived object the roles need, wired; the database is migrated first."""
    ensure_sqlite_dir(settings.database_url)
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    # Made at first start: every checkpoint of this installation is signed with it.
    signer = load_or_create(settings.signing_key_path) if roles & {"bot", "digest"} else None
    timestamper = Timestamper(sessions, settings.tsa_urls)
    translator = Translator.load()
    talks_to_bot_api = bool(roles & {"bot", "sender"})
    if bot is None and talks_to_bot_api:
        assert settings.bot_token is not None
        bot = build_bot(settings.bot_token.get_secret_value(), settings.bot_api_base_url)
    store = MediaStore(settings.media_dir)
    sender: Sender | None = None
    if bot is not None and "sender" in roles:
        sender = Sender(
            bot,
            sessions,
            rate=settings.delivery_rate,
            per_chat=settings.delivery_per_chat_rate,
            paid_broadcast=settings.delivery_paid_broadcast,
            media_store=store,
        )
    # In a process without the sender, the sender elsewhere finds new rows by polling.
    wake_sender: Callable[[], None] = sender.wake if sender is not None else (lambda: None)
    router = EventRouter(sessions, translator, notify=wake_sender)
    kind = settings.collector_kind if "collector" in roles else ""
    # The process's collectors are named by their session: one account per session.
    name = settings.telethon_session.stem
    collector: Collector | None = None
    downloads: Downloader | None = None
    if kind in ("telethon", "both"):
        client = client or build_client(settings)
        gate = FloodGate()

        async def media_nearly_full(used: str) -> None:
            await tell_moderators(
                sessions, translator, settings.moderator_ids, "notice-media-nearly-full", used=used
            )
            wake_sender()

        downloads = Downloader(
            client,
            sessions,
            store,
            download_config(settings),
            gate=gate,
            warn_moderators=media_nearly_full,
            source=ledger.source_of(settings.telethon_session.stem, "download"),
            owner=settings.telethon_session.stem,
        )
        collector = Collector(
            client,
            sessions,
            collector_config(settings),
            notify=router.wake,
            gate=gate,
            downloads=downloads,
            account=name,
            clock=clock,
            web_covers=(
                web_covers(settings, settings.telethon_session.stem) if kind == "both" else None
            ),
        )
        collector.lease = settings.collector_lease_seconds
        downloads.scope = lambda: collector.held if collector is not None else None
        downloads.peer_of = collector._peer
    else:
        client = None
    web: WebCollector | None = None
    http: aiohttp.ClientSession | None = None
    if kind in ("web", "both"):
        http = aiohttp.ClientSession()
        web = build_web_collector(
            settings, sessions, http, notify=router.wake, account=collector, clock=clock
        )
    members = []
    if collector is not None:
        members.append(Member(collector, assignments.ACCOUNT, name, settings.join_cap))
    if web is not None:
        members.append(Member(web, assignments.WEB, name, 0))
    assigner = (
        Assigner(sessions, members, lease=settings.collector_lease_seconds) if members else None
    )
    digests = DigestService(sessions, translator, settings, wake_sender=wake_sender)
    scheduler = AsyncIOScheduler(timezone=settings.tz)
    dispatcher = None
    if "bot" in roles:
        dispatcher = build_dispatcher(
            sessions=sessions,
            translator=translator,
            config=bot_config(settings),
            wake_sender=wake_sender,
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
        roles=roles,
        assigner=assigner,
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
        assert app.dispatcher is not None and app.bot is not None
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
        assert app.sender is not None
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

    parts: dict[str, PartRun | None] = {
        "polling": polling if app.dispatcher is not None else None,
        "assignment": app.assigner.run if app.assigner is not None else None,
        "collector": app.collector.run if app.collector is not None else None,
        "webpreview": app.web.run if app.web is not None else None,
        "router": app.router.run,
        "sender": sender if app.sender is not None else None,
        "scheduler": scheduler,
        "downloads": app.downloads.run if app.downloads is not None else None,
    }
    if app.bot is not None and app.dispatcher is not None:
        app.bot.session.middleware(_PollingReports(sup))
    for name, run in parts.items():
        if run is not None and app.runs(name):
            owner = app.settings.telethon_session.stem if name in ROLE_PARTS["collector"] else None
            sup.add(name, run, interval=PART_INTERVALS[name], owner=owner)


async def start(app: App) -> None:
    """Start every part under supervision; returns once they run in the background."""
    if app.collector is not None:
        app.collector.attach()
    if app.runs("scheduler"):
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
    if app.runs("scheduler"):
        app.tasks.append(asyncio.create_task(_catch_up_digests(app), name="digest-catch-up"))
    if app.bot is not None and app.dispatcher is not None:
        bot = app.bot
        app.tasks.append(asyncio.create_task(_commands(app, bot), name="commands"))
    settle_heap()


def settle_heap() -> None:
    """What start built lives as long as the process: kept out of the garbage
    collector's walks, which then cover only what the work allocates. (A full collection
    over aiogram's and Telethon's ~350,000 objects held an alert up by 230–650 ms.)"""
    gc.collect()
    gc.freeze()


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
    signer = app.signer
    assert signer is not None  # the digest role, which runs this job, has the key
    try:
        await transaction(app.sessions, lambda s: checkpoints.seal(s, signer))
        await app.timestamper.run_once()
    except Exception:  # the next run tries again; collection goes on meanwhile
        log.exception("checkpoint job failed")


async def _catch_up_digests(app: App) -> None:
    try:
        await app.digests.catch_up()
    except Exception:  # a missed digest is retried at the next start or run
        log.exception("digest catch-up failed")


async def _commands(app: App, bot: Bot) -> None:
    try:
        chats = await moderator_chat_ids(app.sessions, app.settings.moderator_ids)
        await set_commands(bot, app.translator, chats)
    except Exception:  # menus are a convenience; the bot works without them
        log.exception("setting command menus failed")


async def stop(app: App) -> None:
    if app.health is not None:
        await app.health.cleanup()
        app.health = None
    # Parts first: a part that ends while the supervisor still runs counts as a crash.
    await app.supervisor.stop()
    if app.dispatcher is not None:
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
    if app.sender is not None:
        await app.sender.stop()
    if app.client is not None:
        with contextlib.suppress(Exception):
            await app.client.disconnect()
    if app.http is not None:
        await app.http.close()
    if app.bot is not None:
        await app.bot.session.close()
    await app.engine.dispose()


async def run(settings: Settings, roles: frozenset[str] = ALL_ROLES) -> None:
    """`chanwatch run`: the parts of these roles in one process until SIGINT or SIGTERM."""
    limit_arenas()  # before the first thread starts
    secrets = [s.get_secret_value() for s in (settings.bot_token, settings.telegram_api_hash) if s]
    setup_logging(settings.log_level, secrets)
    bot: Bot | None = None
    if roles & {"bot", "sender"}:
        assert settings.bot_token is not None
        bot = build_bot(settings.bot_token.get_secret_value(), settings.bot_api_base_url)
        try:
            await check_bot(bot)
        except BotRejected:
            await bot.session.close()
            raise
    app = await build_app(settings, roles=roles, bot=bot)
    if app.client is not None:
        await _logged_in(app, settings)
    log.info("roles: %s", ", ".join(r for r in ROLES if r in roles))
    if "collector" in roles:
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
