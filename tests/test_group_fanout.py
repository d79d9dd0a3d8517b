"""A fan-out to private chats and groups within Telegram's limits, on a time-scaled simulator.

Telegram allows 1 message a second per private chat, 20 a minute per group and about 30
a second overall. At those rates 25 messages to each of 50 groups take more than a
minute, so the simulator's flood clock runs `SCALE` times faster than the wall clock
and the sender's rates are scaled by the same factor: every limit is Telegram's own in
the simulator's time, where the test counts the messages per minute.
"""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import GROUP_PER_SECOND, Sender
from bot.i18n import Translator
from bot.routing import EventRouter
from simulator.botapi import BotAPILimits, BotAPISimulator
from storage import events, kinds, outbox, payloads
from storage.db import SessionMaker, transaction
from storage.models import Delivery, Subscriber, Subscription
from tests.harness import TOKEN, bot_for
from tests.support import watched_channel

# Slow enough that the sender's own database writes are not what keeps a group under its
# limit (at 10x they were, and a sender without group spacing passed too).
SCALE = 3.0
PRIVATE = 1000
GROUPS = 50
GROUP_ONLY_POSTS = 21  # groups get these besides the post everyone gets: 22 each
TELEGRAM = BotAPILimits()  # 1/s per chat (burst 3), 20/min per group, 30/s overall


class ScaledClock:
    """A monotonic clock running `scale` times faster than the real one."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.start = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self.start) * self.scale


def group_id(i: int) -> int:
    return -1_000_000_100_000 - i


async def seed(sessions: SessionMaker) -> tuple[list[int], list[int]]:
    everyone = await watched_channel(sessions)
    groups_only = await watched_channel(sessions, tg_id=1002, username="courtwatch")

    async def work(s: AsyncSession) -> tuple[list[int], list[int]]:
        privates = [20_000 + i for i in range(PRIVATE)]
        groups = [group_id(i) for i in range(GROUPS)]
        rows = [Subscriber(chat_id=c, user_id=c, language="ru") for c in privates]
        rows += [Subscriber(chat_id=g, kind="supergroup", language="en") for g in groups]
        s.add_all(rows)
        await s.flush()
        all_kinds = list(kinds.DEFAULT_GROUPS)
        for row in rows:
            s.add(Subscription(subscriber_id=row.id, channel_id=everyone, event_kinds=all_kinds))
            if row.chat_id < 0:
                s.add(
                    Subscription(
                        subscriber_id=row.id, channel_id=groups_only, event_kinds=all_kinds
                    )
                )
        await events.record(
            s,
            channel_id=everyone,
            dedupe_key="post.new:everyone:1",
            payload=payloads.PostNew(message_id=1, text="Всем"),
        )
        for n in range(GROUP_ONLY_POSTS):
            await events.record(
                s,
                channel_id=groups_only,
                dedupe_key=f"post.new:court:{n}",
                payload=payloads.PostNew(message_id=100 + n, text=f"Заседание {n}"),
            )
        return privates, groups

    return await transaction(sessions, work)


async def open_rows(sessions: SessionMaker) -> int:
    async with sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(outbox.OPEN))
            )
            or 0
        )


def most_in_a_minute(stamps: list[float]) -> int:
    """The most messages inside any 60-second window [t, t + 60)."""
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, start in enumerate(stamps):
        while j < len(stamps) and stamps[j] < start + 60.0:
            j += 1
        best = max(best, j - i)
    return best


async def test_fanout_to_private_chats_and_groups_keeps_every_limit(
    sessions: SessionMaker,
) -> None:
    privates, groups = await seed(sessions)
    written = await EventRouter(sessions, Translator.load()).route_pending()
    assert written == PRIVATE + GROUPS * (1 + GROUP_ONLY_POSTS)
    clock = ScaledClock(SCALE)
    sim = BotAPISimulator(token=TOKEN, limits=TELEGRAM, clock=clock)
    await sim.start()
    bot = bot_for(sim)
    try:
        sender = Sender(
            bot,
            sessions,
            rate=30 * SCALE,
            per_chat=1 * SCALE,
            per_group=GROUP_PER_SECOND * SCALE,
            concurrency=64,
            batch=500,
        )
        deadline = time.monotonic() + 240
        while await open_rows(sessions) and time.monotonic() < deadline:
            await sender.drain_once()
        assert await open_rows(sessions) == 0, "the outbox did not drain in time"
        sent = sim.all_sent()
    finally:
        await bot.session.close()
        await sim.stop()
    per_chat = Counter(m.chat_id for m in sent)
    assert {per_chat[c] for c in privates} == {1}
    assert {per_chat[g] for g in groups} == {1 + GROUP_ONLY_POSTS}
    assert sim.stats.rate_limited == 0
    assert sender.stats.retry_after == 0
    by_group: dict[int, list[float]] = {g: [] for g in groups}
    for message in sent:
        if message.chat_id < 0:
            by_group[message.chat_id].append(message.accepted_at)
    worst = max(most_in_a_minute(stamps) for stamps in by_group.values())
    assert worst <= 20, f"a group got {worst} messages within one minute"
    # The groups' 22 messages did need more than a (simulated) minute each.
    assert all(max(s) - min(s) > 60 for s in by_group.values())
    async with sessions() as s:
        assert set(await s.scalars(select(Delivery.status))) == {"sent"}
