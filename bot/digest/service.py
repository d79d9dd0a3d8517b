"""The weekly digest job: when it runs, for whom, and that each reader gets it once.

APScheduler only says *when*; our own tables say *what was done*:

* ``digest_runs`` has one row per period (unique key), completed when every
  eligible reader has their digest;
* ``digests`` has one row per reader and period (unique), written in the same
  transaction as the reader's outbox row (unique dedupe key), so a digest row
  means the digest is on its way, and a reader who has one is skipped.

A restart in the middle of a run resumes with the readers not done yet; two
processes running the same period split it between them without sending
anything twice; a period missed while chanwatch was down is run by
:meth:`DigestService.catch_up` when it comes back, if still within the grace; a
run that was started (by the schedule or a moderator) and not completed is
finished at the next start however late.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.digest.builder import Charts, Composed, Composer, Period, load_weeks
from bot.i18n import Translator
from chanwatch.settings import WEEKDAYS, Settings, parse_schedule
from storage import outbox
from storage.db import SessionMaker, insert_ignore, insert_ignore_rows, transaction
from storage.models import Digest, DigestRun, Subscriber, Subscription
from storage.types import utcnow

__all__ = ["JOB_ID", "DigestService", "Period"]

log = logging.getLogger(__name__)

JOB_ID = "chanwatch-weekly-digest"
PERIOD_DAYS = 7


@dataclass(frozen=True)
class _Reader:
    id: int
    chat_id: int
    language: str
    channels: tuple[int, ...]


@dataclass(frozen=True)
class _Built:
    """What is written for one reader. Only this is kept until the batch is stored, not
    the composed pieces the messages were packed from: the batches in flight are the
    part of a run's memory that grows with the size of a digest."""

    reader: _Reader
    stats: dict[str, Any]
    parts: list[outbox.Part]
    png: bytes | None


_Content = tuple[dict[str, Any], list[outbox.Part], bytes | None]


def _content_by_reader_kind(
    composer: Composer, charts: Charts
) -> functools._lru_cache_wrapper[_Content]:
    """A digest by language and channels followed, for one run.

    A digest depends on nothing else, and readers who follow the same channels are
    common (a channel's followers who follow nothing else, above all): theirs is
    composed and drawn once and then reused. Only the last few are kept, at about
    100 KB each; a build that raises is not kept.
    """

    @functools.lru_cache(maxsize=32)
    def content(lang: str, channels: tuple[int, ...]) -> _Content:
        composed = composer.compose(lang, channels)
        png = charts.png(composed.stats["lang"], composed.chart_channels)
        return composed.stats, _parts(composed), png

    return content


def _dedupe_key(period_key: str, subscriber_id: int) -> str:
    return f"digest:{period_key}:{subscriber_id}"


def _parts(composed: Composed) -> list[outbox.Part]:
    parts = outbox.messages(composed.messages)
    if composed.caption is not None and composed.chart_channels:
        parts.append(outbox.chart(composed.caption))
    return parts


class DigestService:
    """Builds and enqueues digests; see the module docstring for the guarantees."""

    def __init__(
        self,
        sessions: SessionMaker,
        translator: Translator,
        settings: Settings,
        *,
        wake_sender: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        # Two batches are in memory at once (one built while the other is written), at
        # about 100 KB a reader (chart, messages, their JSON). Batches of 50 took about
        # 18 MB less at peak but made the 8,500-reader run 10-50 % slower on PostgreSQL
        # (issue #16): the time is the scarcer of the two.
        batch_size: int = 200,
    ) -> None:
        self.sessions = sessions
        self.t = translator
        self.settings = settings
        self.wake_sender = wake_sender
        self.clock = clock
        self.batch_size = batch_size
        self.days, self.hour, self.minute = parse_schedule(settings.digest_schedule)
        self.tz = settings.tz
        self.grace = timedelta(hours=settings.digest_grace_hours)

    # --- schedule -------------------------------------------------------------------

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Register the weekly job (replacing an earlier registration of it)."""
        trigger = CronTrigger(
            day_of_week=",".join(self.days),
            hour=self.hour,
            minute=self.minute,
            timezone=self.tz,
        )
        scheduler.add_job(
            self._scheduled_run,
            trigger,
            id=JOB_ID,
            name="weekly digest",
            # APScheduler's default grace is one second: a busy loop would skip the week.
            misfire_grace_time=max(1, int(self.grace.total_seconds())),
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )

    async def _scheduled_run(self) -> None:
        try:
            count = await self.run_period(self.period_for(self.clock()))
            log.info("weekly digest: %d enqueued", count)
        except Exception:  # the scheduler must keep the job for next week
            log.exception("weekly digest run failed; catch_up retries it at the next start")

    def period_for(self, now: datetime) -> Period:
        """The latest period whose scheduled time is at or before ``now``."""
        local = now.astimezone(self.tz)
        end_local: datetime | None = None
        for back in range(8):
            day = local.date() - timedelta(days=back)
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            candidate = datetime.combine(day, time(self.hour, self.minute), tzinfo=self.tz)
            if candidate <= now:
                end_local = candidate
                break
        if end_local is None:  # pragma: no cover - a schedule names at least one day
            raise ValueError("no scheduled time in the last week")
        # Wall-clock arithmetic: the period starts at the same local time a week earlier.
        start_local = end_local - timedelta(days=PERIOD_DAYS)
        year, week, _ = start_local.isocalendar()
        key = f"{year}-W{week:02d}"
        if len(self.days) > 1:
            key += f"-{WEEKDAYS[start_local.weekday()]}"
        return Period(key, start_local.astimezone(UTC), end_local.astimezone(UTC))

    # --- weekly run -------------------------------------------------------------------

    async def catch_up(self) -> int:
        """At start: finish the latest due period's run if it was started and not
        completed (some readers have it, so the rest must too, however late: a
        moderator's /digest_run may have been killed mid-way), or run it if it was
        missed and is still within grace."""
        now = self.clock()
        period = self.period_for(now)
        async with self.sessions() as s:
            run = (
                await s.execute(
                    select(DigestRun.completed_at).where(DigestRun.period_key == period.key)
                )
            ).first()
        if run is not None and run.completed_at is not None:
            return 0
        if run is None and now - period.end > self.grace:
            return 0
        log.info("weekly digest %s was not completed: running it now", period.key)
        return await self.run_period(period)

    async def run_now(self, opened: Callable[[], Awaitable[None]] | None = None) -> int:
        """A moderator's /digest_run: the latest due period, now, for every reader who
        does not have it yet (idempotent).

        The period's run is (re)opened first, so readers who arrived after it was
        completed get it, and a crash from then on leaves it open for
        :meth:`catch_up`. ``opened`` is awaited once that is committed: only then may
        the moderator be told the run started.
        """
        period = self.period_for(self.clock())
        await self._open_run(period, reopen=True)
        if opened is not None:
            await opened()
        return await self.run_period(period)

    async def run_period(self, period: Period) -> int:
        """Build and enqueue the period's digest for every eligible reader not done yet.

        Eligible: digest on, not blocked or banned, following at least one channel.
        Readers are done in batches, each committed with its outbox rows, so a crash
        loses at most the batch in hand. The run is marked complete when every
        reader is done (a reader whose digest could not be built leaves it open for
        :meth:`catch_up`). Returns how many digests this call enqueued.
        """
        if await self._open_run(period):
            return 0
        readers = await self._pending(period)
        enqueued = 0
        failed: list[int] = []
        if readers:
            channels = {channel for reader in readers for channel in reader.channels}
            async with self.sessions() as s:
                weeks = await load_weeks(s, period, channels)
            composer = Composer(self.t, self.tz, period, weeks)
            languages: dict[int, set[str]] = {}
            for reader in readers:
                for channel_id in reader.channels:
                    languages.setdefault(channel_id, set()).add(reader.language)
            charts = Charts(composer, languages)
            content = _content_by_reader_kind(composer, charts)
            batches = [
                readers[i : i + self.batch_size] for i in range(0, len(readers), self.batch_size)
            ]

            def build(batch: Sequence[_Reader]) -> asyncio.Future[list[_Built]]:
                # Composing and drawing are CPU work: keep the event loop (bot, sender) free.
                return asyncio.ensure_future(
                    asyncio.to_thread(self._build, composer, content, batch, failed)
                )

            # The next batch is built while this one is written: the database's own
            # work (SQLite's C code, or the PostgreSQL server) overlaps the building.
            pending = build(batches[0])
            try:
                for index, batch in enumerate(batches):
                    built = await pending
                    if index + 1 < len(batches):
                        pending = build(batches[index + 1])
                    stored = await self._store(period, built)
                    if stored:
                        enqueued += stored
                        self.wake_sender()  # sending can start while the rest is built
                    await self._after_batch(period, [r.id for r in batch])
            finally:
                # A failed write leaves no build running behind it.
                if not pending.done():
                    await asyncio.wait([pending])
                if not pending.cancelled():
                    pending.exception()  # seen: the error raised is the write's
            log.info(
                "digest %s: %d readers, %d channels, %d digests built, %d chart strips drawn, "
                "%d enqueued",
                period.key,
                len(readers),
                len(weeks),
                content.cache_info().misses,
                charts.drawn,
                enqueued,
            )
        if failed:
            # Left open: the next start (catch_up) tries these readers again.
            log.error("digest %s: could not build for readers %s", period.key, failed[:20])
        else:
            await self._close_run(period)
        return enqueued

    async def _after_batch(self, period: Period, subscriber_ids: list[int]) -> None:
        """Called after each batch is committed (a seam for tests and progress logs)."""

    async def _open_run(self, period: Period, *, reopen: bool = False) -> bool:
        """Record the period's run (``reopen``: as not complete); True if it is complete."""
        now = self.clock()

        async def work(s: AsyncSession) -> bool:
            if reopen:
                await s.execute(
                    update(DigestRun)
                    .where(DigestRun.period_key == period.key)
                    .values(completed_at=None)
                )
            await insert_ignore(
                s,
                DigestRun,
                {
                    "period_key": period.key,
                    "period_start": period.start,
                    "period_end": period.end,
                    "started_at": now,
                    "subscribers": 0,
                },
                key="period_key",
            )
            completed = await s.scalar(
                select(DigestRun.completed_at).where(DigestRun.period_key == period.key)
            )
            return completed is not None

        return await transaction(self.sessions, work)

    async def _close_run(self, period: Period) -> None:
        now = self.clock()

        async def work(s: AsyncSession) -> None:
            done = await s.scalar(
                select(func.count()).select_from(Digest).where(Digest.period_key == period.key)
            )
            await s.execute(
                update(DigestRun)
                .where(DigestRun.period_key == period.key, DigestRun.completed_at.is_(None))
                .values(completed_at=now, subscribers=done or 0)
            )

        await transaction(self.sessions, work)

    async def _pending(self, period: Period) -> list[_Reader]:
        """Eligible readers without a digest of this period, with the channels they follow."""
        done = select(Digest.id).where(
            Digest.subscriber_id == Subscriber.id, Digest.period_key == period.key
        )
        follows = select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id)
        eligible = (
            Subscriber.digest_enabled.is_(True),
            Subscriber.blocked_at.is_(None),
            Subscriber.banned_at.is_(None),
            ~exists(done),
        )
        async with self.sessions() as s:
            readers = (
                await s.execute(
                    select(Subscriber.id, Subscriber.chat_id, Subscriber.language)
                    .where(*eligible, exists(follows))
                    .order_by(Subscriber.id)
                )
            ).all()
            if not readers:
                return []
            channels: dict[int, list[int]] = {}
            for sid, cid in await s.execute(
                select(Subscription.subscriber_id, Subscription.channel_id)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(*eligible)
                .order_by(Subscription.subscriber_id, Subscription.channel_id)
            ):
                channels.setdefault(sid, []).append(cid)
        return [
            _Reader(r.id, r.chat_id, r.language, tuple(channels.get(r.id, ())))
            for r in readers
            if channels.get(r.id)
        ]

    def _build(
        self,
        composer: Composer,
        content: Callable[[str, tuple[int, ...]], _Content],
        readers: Sequence[_Reader],
        failed: list[int],
    ) -> list[_Built]:
        built = []
        for reader in readers:
            try:
                # _pending and digest_now list a reader's channels in id order.
                stats, parts, png = content(composer.lang(reader.language), reader.channels)
            except Exception:  # one reader's odd data must not hold up everyone else's
                log.exception(
                    "digest %s: building for reader %d failed", composer.period.key, reader.id
                )
                failed.append(reader.id)
                continue
            built.append(_Built(reader, stats, parts, png))
        return built

    async def _store(
        self, period: Period, built: Sequence[_Built], *, dedupe: str | None = None
    ) -> int:
        """Write the readers' digests and outbox rows in one transaction; the number enqueued.

        A reader who already has this period's digest (an earlier try, or another
        process that got there first) is left alone.
        """
        if not built:
            return 0
        now = self.clock()
        by_reader = {item.reader.id: item for item in built}

        async def work(s: AsyncSession) -> int:
            rows = [
                {
                    "subscriber_id": item.reader.id,
                    "period_key": period.key,
                    "period_start": period.start,
                    "period_end": period.end,
                    "built_at": now,
                    "stats": item.stats,
                    "chart_png": item.png,
                }
                for item in built
            ]
            new = await insert_ignore_rows(
                s,
                Digest,
                rows,
                conflict=["subscriber_id", "period_key"],
                returning=[Digest.id, Digest.subscriber_id],
            )
            deliveries = [
                outbox.row(
                    subscriber_id=subscriber_id,
                    chat_id=by_reader[subscriber_id].reader.chat_id,
                    kind="digest",
                    digest_id=digest_id,
                    dedupe_key=dedupe or _dedupe_key(period.key, subscriber_id),
                    parts=by_reader[subscriber_id].parts,
                    now=now,
                )
                for digest_id, subscriber_id in new
            ]
            return len(await outbox.enqueue_many(s, deliveries))

        return await transaction(self.sessions, work)

    # --- one reader, now --------------------------------------------------------------

    async def digest_now(self, subscriber_id: int) -> bool:
        """/digest: the reader's last 7 days, now, through the outbox.

        False when there is nothing to send (unknown, blocked or banned reader, no
        channels followed) or when the same digest was asked for within the minute.
        """
        now = self.clock()
        stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M")
        period = Period(f"now-{stamp}", now - timedelta(days=PERIOD_DAYS), now)
        async with self.sessions() as s:
            sub = await s.get(Subscriber, subscriber_id)
            if sub is None or sub.blocked_at is not None or sub.banned_at is not None:
                return False
            channels = tuple(
                await s.scalars(
                    select(Subscription.channel_id)
                    .where(Subscription.subscriber_id == subscriber_id)
                    .order_by(Subscription.channel_id)
                )
            )
            if not channels:
                return False
            reader = _Reader(sub.id, sub.chat_id, sub.language, channels)
            weeks = await load_weeks(s, period, channels)
        composer = Composer(self.t, self.tz, period, weeks, title_key="dg-title-now")
        failed: list[int] = []
        content = _content_by_reader_kind(composer, Charts(composer))
        built = await asyncio.to_thread(self._build, composer, content, [reader], failed)
        dedupe = f"digest:now:{subscriber_id}:{stamp}"
        sent = await self._store(period, built, dedupe=dedupe) > 0
        if sent:
            self.wake_sender()
        return sent
