"""The weekly digest is sent exactly once: periods, restarts, two runners, catch-up, schedule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from bot.digest import JOB_ID, DigestService, Period
from bot.textsplit import visible_text
from storage.db import SessionMaker, transaction
from storage.models import Channel, Delivery, Digest, DigestRun, Subscriber, Subscription
from tests.digestkit import T, make_service, make_settings, period_label, seed
from tests.seeds import NOW

MSK = ZoneInfo("Europe/Moscow")


async def assert_exactly_once(sessions: SessionMaker, period: Period, eligible: list[int]) -> None:
    """Every eligible reader has one digest of the period and one outbox row; nobody else."""
    async with sessions() as s:
        per_reader = (
            await s.execute(
                select(Digest.subscriber_id, func.count(Digest.id))
                .where(Digest.period_key == period.key)
                .group_by(Digest.subscriber_id)
                .order_by(Digest.subscriber_id)
            )
        ).all()
        outbox = (
            await s.execute(
                select(Delivery.subscriber_id, func.count(Delivery.id))
                .where(Delivery.kind == "digest")
                .group_by(Delivery.subscriber_id)
                .order_by(Delivery.subscriber_id)
            )
        ).all()
        linked = await s.scalar(
            select(func.count(Delivery.id))
            .join(Digest, Digest.id == Delivery.digest_id)
            .where(Digest.period_key == period.key)
        )
        keys = set(await s.scalars(select(Delivery.dedupe_key)))
    assert per_reader == [(sid, 1) for sid in eligible]
    assert outbox == [(sid, 1) for sid in eligible]
    assert linked == len(eligible)
    assert keys == {f"digest:{period.key}:{sid}" for sid in eligible}


async def run_row(sessions: SessionMaker, key: str) -> DigestRun | None:
    async with sessions() as s:
        return await s.scalar(select(DigestRun).where(DigestRun.period_key == key))


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("now", "key", "end"),
    [
        # Monday 09:00 Moscow = 06:00 UTC; the period is the week before it.
        (datetime(2025, 11, 24, 6, 0, tzinfo=UTC), "2025-W47", datetime(2025, 11, 24, 6, 0)),
        (datetime(2025, 11, 24, 5, 59, 59, tzinfo=UTC), "2025-W46", datetime(2025, 11, 17, 6, 0)),
        (datetime(2025, 11, 30, 23, 0, tzinfo=UTC), "2025-W47", datetime(2025, 11, 24, 6, 0)),
        # The week of Mon 29 Dec 2025 is ISO week 1 of 2026.
        (datetime(2026, 1, 5, 7, 0, tzinfo=UTC), "2026-W01", datetime(2026, 1, 5, 6, 0)),
    ],
)
def test_period_for(now: datetime, key: str, end: datetime) -> None:
    service = make_service(None)  # type: ignore[arg-type]
    period = service.period_for(now)
    assert period.key == key
    assert period.end == end.replace(tzinfo=UTC)
    assert period.start == period.end - timedelta(days=7)
    assert period.end <= now < period.end + timedelta(days=7)


def test_period_keeps_local_time_over_a_clock_change() -> None:
    settings = make_settings(timezone="Europe/Berlin", digest_schedule="mon 09:00")
    service = DigestService(None, None, settings)  # type: ignore[arg-type]
    period = service.period_for(datetime(2025, 10, 27, 12, 0, tzinfo=UTC))
    berlin = ZoneInfo("Europe/Berlin")
    assert period.start.astimezone(berlin).time() == period.end.astimezone(berlin).time()
    assert period.end - period.start == timedelta(days=7, hours=1)  # summer time ended


def test_several_days_give_several_periods() -> None:
    settings = make_settings(digest_schedule="mon,thu 18:30")
    service = DigestService(None, None, settings)  # type: ignore[arg-type]
    monday = service.period_for(datetime(2025, 11, 24, 16, 0, tzinfo=UTC))
    thursday = service.period_for(datetime(2025, 11, 27, 16, 0, tzinfo=UTC))
    assert monday.end.astimezone(MSK) == datetime(2025, 11, 24, 18, 30, tzinfo=MSK)
    assert thursday.end.astimezone(MSK) == datetime(2025, 11, 27, 18, 30, tzinfo=MSK)
    assert monday.key != thursday.key
    assert len({monday.key, thursday.key}) == 2


# --------------------------------------------------------------------------- exactly once


async def test_a_period_runs_once(sessions: SessionMaker) -> None:
    woken = []
    service = make_service(sessions, wake_sender=lambda: woken.append(1))
    period = service.period_for(NOW)
    world = await seed(sessions, period, channels=8, posts=400, subscribers=30)

    assert await service.run_period(period) == len(world.eligible)
    assert woken == [1]
    assert await service.run_period(period) == 0
    assert await make_service(sessions).run_now() == 0
    await assert_exactly_once(sessions, period, world.eligible)
    run = await run_row(sessions, period.key)
    assert run is not None and run.completed_at is not None
    assert run.subscribers == len(world.eligible)
    assert woken == [1]


class Crash(Exception):
    pass


class CrashingService(DigestService):
    """Dies after committing ``crash_after`` batches, as a killed process would."""

    crash_after = 2

    async def _after_batch(self, period: Period, subscriber_ids: list[int]) -> None:
        self.crash_after -= 1
        if self.crash_after == 0:
            raise Crash


async def test_restart_in_the_middle_of_a_run(sessions: SessionMaker) -> None:
    first = make_service(sessions, cls=CrashingService, batch_size=4)
    period = first.period_for(NOW)
    world = await seed(sessions, period, channels=8, posts=400, subscribers=30)
    assert len(world.eligible) > 8

    with pytest.raises(Crash):
        await first.run_period(period)
    async with sessions() as s:
        done = await s.scalar(select(func.count(Digest.id)))
        queued = await s.scalar(select(func.count(Delivery.id)))
    assert done == queued == 8
    run = await run_row(sessions, period.key)
    assert run is not None and run.completed_at is None

    # The process comes back: a new service (nothing kept in memory) finishes the run.
    second = make_service(sessions, now=NOW + timedelta(minutes=5))
    assert await second.catch_up() == len(world.eligible) - 8
    await assert_exactly_once(sessions, period, world.eligible)
    run = await run_row(sessions, period.key)
    assert run is not None and run.completed_at is not None
    assert run.subscribers == len(world.eligible)


async def test_two_runners_at_once(sessions: SessionMaker) -> None:
    one = make_service(sessions, batch_size=3)
    two = make_service(sessions, batch_size=5)
    period = one.period_for(NOW)
    world = await seed(sessions, period, channels=8, posts=400, subscribers=30)

    counts = await asyncio.gather(one.run_period(period), two.run_period(period))
    assert sum(counts) == len(world.eligible)
    await assert_exactly_once(sessions, period, world.eligible)


async def test_new_reader_after_a_crash_is_included(sessions: SessionMaker) -> None:
    first = make_service(sessions, cls=CrashingService, batch_size=2)
    first.crash_after = 1
    period = first.period_for(NOW)
    world = await seed(sessions, period, channels=4, posts=100, subscribers=8)
    with pytest.raises(Crash):
        await first.run_period(period)

    async def join(s) -> None:  # type: ignore[no-untyped-def]
        s.add(Subscriber(id=100, chat_id=100100, language="en"))
        await s.flush()
        s.add(Subscription(subscriber_id=100, channel_id=1))

    await transaction(sessions, join)
    await make_service(sessions).run_period(period)
    await assert_exactly_once(sessions, period, [*world.eligible, 100])


# --------------------------------------------------------------------------- catch-up


async def test_catch_up_sends_a_missed_period_within_grace(sessions: SessionMaker) -> None:
    period = make_service(sessions).period_for(NOW)
    world = await seed(sessions, period, channels=4, posts=100, subscribers=10)
    late = make_service(sessions, now=period.end + timedelta(hours=47))
    assert await late.catch_up() == len(world.eligible)
    await assert_exactly_once(sessions, period, world.eligible)
    assert await late.catch_up() == 0  # completed: not again


async def test_catch_up_leaves_a_period_past_grace(sessions: SessionMaker) -> None:
    period = make_service(sessions).period_for(NOW)
    await seed(sessions, period, channels=4, posts=100, subscribers=10)
    too_late = make_service(sessions, now=period.end + timedelta(hours=49))
    assert too_late.period_for(too_late.clock()) == period
    assert await too_late.catch_up() == 0
    assert await run_row(sessions, period.key) is None
    async with sessions() as s:
        assert await s.scalar(select(func.count(Digest.id))) == 0


async def test_catch_up_finishes_a_moderator_run_killed_past_grace(sessions: SessionMaker) -> None:
    # /digest_run days after the scheduled time reopens the period; a kill in the
    # middle must not leave the remaining readers without it (the grace is for
    # periods never started, not for runs half done).
    period = make_service(sessions).period_for(NOW)
    world = await seed(sessions, period, channels=4, posts=100, subscribers=10)
    late = period.end + timedelta(days=3)
    first = make_service(sessions, cls=CrashingService, batch_size=2, now=late)
    first.crash_after = 1
    with pytest.raises(Crash):
        await first.run_now()
    restarted = make_service(sessions, now=late + timedelta(minutes=1))
    assert await restarted.catch_up() == len(world.eligible) - 2
    await assert_exactly_once(sessions, period, world.eligible)
    assert await restarted.catch_up() == 0


async def test_run_now_tells_the_moderator_only_once_the_run_is_recorded(
    sessions: SessionMaker,
) -> None:
    # "Building the digests…" is a promise: by then a crash must leave the run open
    # for catch_up, for a period never run and for one already completed alike.
    service = make_service(sessions)
    period = service.period_for(NOW)
    world = await seed(sessions, period, channels=2, posts=20, subscribers=4)
    seen: list[datetime | None] = []

    async def opened() -> None:
        run = await run_row(sessions, period.key)
        assert run is not None
        seen.append(run.completed_at)

    assert await service.run_now(opened) == len(world.eligible)
    assert await service.run_now(opened) == 0
    assert seen == [None, None]


# --------------------------------------------------------------------------- schedule


async def test_scheduler_job_has_the_configured_time_and_zone(sessions: SessionMaker) -> None:
    service = make_service(sessions, settings=make_settings(digest_grace_hours=6))
    scheduler = AsyncIOScheduler(timezone=UTC)
    service.schedule(scheduler)
    service.schedule(scheduler)  # registering again replaces, never duplicates
    scheduler.start(paused=True)
    try:
        jobs = scheduler.get_jobs()
        assert [j.id for j in jobs] == [JOB_ID]
        job = jobs[0]
        trigger = job.trigger
        assert isinstance(trigger, CronTrigger)
        assert str(trigger.timezone) == "Europe/Moscow"
        fields = {f.name: str(f) for f in trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon", "9", "0")
        assert job.misfire_grace_time == 6 * 3600
        assert job.coalesce is True and job.max_instances == 1
        after = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
        fire = trigger.get_next_fire_time(None, after)
        assert fire == datetime(2025, 11, 24, 9, 0, tzinfo=MSK)
        # The job runs the period that has just become due.
        world = await seed(sessions, service.period_for(NOW), channels=3, posts=50, subscribers=5)
        await job.func()
        assert (await run_row(sessions, "2025-W47")).completed_at is not None  # type: ignore[union-attr]
        await assert_exactly_once(sessions, service.period_for(NOW), world.eligible)
    finally:
        scheduler.shutdown(wait=False)


async def test_scheduler_several_days() -> None:
    settings = make_settings(digest_schedule="mon,thu 18:30", timezone="Asia/Yekaterinburg")
    service = DigestService(None, None, settings)  # type: ignore[arg-type]
    scheduler = AsyncIOScheduler(timezone=UTC)
    service.schedule(scheduler)
    scheduler.start(paused=True)
    try:
        trigger = scheduler.get_job(JOB_ID).trigger
        fields = {f.name: str(f) for f in trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon,thu", "18", "30")
        assert str(trigger.timezone) == "Asia/Yekaterinburg"
    finally:
        scheduler.shutdown(wait=False)


# --------------------------------------------------------------------------- /digest


async def test_digest_now_once_per_minute(sessions: SessionMaker) -> None:
    period = make_service(sessions).period_for(NOW)
    world = await seed(sessions, period, channels=4, posts=200, subscribers=6)
    reader = world.eligible[0]
    tap = make_service(sessions, now=NOW)
    assert await tap.digest_now(reader) is True
    assert await tap.digest_now(reader) is False  # a double tap is one digest
    assert await make_service(sessions, now=NOW + timedelta(minutes=1)).digest_now(reader)
    async with sessions() as s:
        rows = (await s.scalars(select(Delivery).order_by(Delivery.id))).all()
        digest = await s.get(Digest, rows[0].digest_id)
    assert [r.dedupe_key for r in rows] == [
        f"digest:now:{reader}:202511240630",
        f"digest:now:{reader}:202511240631",
    ]
    assert digest is not None
    assert digest.period_end == NOW and digest.period_start == NOW - timedelta(days=7)
    assert sorted(map(int, digest.stats["channels"])) == world.follows[reader]
    async with sessions() as s:
        lang = await s.scalar(select(Subscriber.language).where(Subscriber.id == reader))
    label = period_label(
        tap, Period(digest.period_key, digest.period_start, digest.period_end), lang
    )
    title = T.get(lang, "dg-title-now", period=label)
    assert visible_text(rows[0].parts[0]["text"]).startswith(title)


async def test_digest_now_refuses_blocked_banned_and_followless(sessions: SessionMaker) -> None:
    async def setup(s) -> None:  # type: ignore[no-untyped-def]
        s.add(Channel(id=1, tg_id=1, title="C"))
        s.add(Subscriber(id=1, chat_id=1, blocked_at=NOW))
        s.add(Subscriber(id=2, chat_id=2, banned_at=NOW))
        s.add(Subscriber(id=3, chat_id=3))
        s.add(Subscriber(id=4, chat_id=4, digest_enabled=False))
        await s.flush()
        for sid in (1, 2, 4):
            s.add(Subscription(subscriber_id=sid, channel_id=1))

    await transaction(sessions, setup)
    service = make_service(sessions)
    assert [await service.digest_now(sid) for sid in (1, 2, 3, 99)] == [False] * 4
    # The weekly digest is opt-out; asking for one now works even when it is off.
    assert await service.digest_now(4) is True


async def test_moderator_run_reaches_readers_who_arrived_after_the_period_was_done(
    sessions: SessionMaker,
) -> None:
    """A completed period run again by /digest_run still reaches newcomers, once."""
    from bot.i18n import Translator
    from chanwatch.settings import load_settings
    from storage.types import utcnow

    service = DigestService(sessions, Translator.load(), load_settings())
    period = service.period_for(utcnow())
    assert await service.run_period(period) == 0  # nobody yet: completed, empty

    async def newcomer(s):  # type: ignore[no-untyped-def]
        ch = Channel(tg_id=5, title="Путь домой", restriction_reasons=[])
        sub = Subscriber(chat_id=77, language="ru")
        s.add_all([ch, sub])
        await s.flush()
        s.add(
            Subscription(subscriber_id=sub.id, channel_id=ch.id, event_kinds=["posts"], keywords=[])
        )

    await transaction(sessions, newcomer)
    assert await service.catch_up() == 0  # the period is complete: the schedule is done
    assert await service.run_now() == 1
    assert await service.run_now() == 0
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Digest)) == 1
        run = await s.scalar(select(DigestRun).where(DigestRun.period_key == period.key))
    assert run is not None and run.completed_at is not None
