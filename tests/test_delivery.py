"""Alerts through the outbox and the real aiogram Bot over HTTP to the simulated Bot API."""

from __future__ import annotations

import asyncio
import html
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Sender, repeat_bound
from bot.i18n import Translator
from bot.routing import EventRouter
from simulator.botapi import BotAPILimits, BotAPISimulator
from storage import channels, events, kinds, outbox, payloads
from storage.db import SessionMaker, transaction
from storage.models import Delivery, Subscriber, Subscription
from tests.harness import TOKEN, bot_for
from tests.support import FAKETIME, clock_ahead

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_TITLE = "<b>Путь & домой</a> 🏠 <script>x</script>"


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator.load()


async def seed(
    sessions: SessionMaker,
    n: int,
    *,
    title: str = "Путь домой",
    text: str = "Новый пост",
    first_chat: int = 10_000,
    kind: str = kinds.POST_NEW,
) -> tuple[int, list[int]]:
    """A channel, n subscribers following it (half ru, half en), and one event."""

    async def work(s: AsyncSession) -> tuple[int, list[int]]:
        ch, _ = await channels.add_or_rewatch(
            s,
            tg_id=777,
            access_hash=1,
            username="putdomoi",
            title=title,
            handle="@putdomoi",
            added_by=None,
        )
        chats = []
        for i in range(n):
            chat = first_chat + i
            sub = Subscriber(chat_id=chat, user_id=chat, language="ru" if i % 2 else "en")
            s.add(sub)
            await s.flush()
            s.add(
                Subscription(
                    subscriber_id=sub.id,
                    channel_id=ch.id,
                    event_kinds=["posts", "edits", "deletions", "channel"],
                    keywords=[],
                )
            )
            chats.append(chat)
        payload = payloads.load(kind, {"message_id": 5, "text": text})
        await events.record(s, channel_id=ch.id, dedupe_key=f"{kind}:5", payload=payload)
        return ch.id, chats

    return await transaction(sessions, work)


async def route(sessions: SessionMaker, translator: Translator) -> int:
    return await EventRouter(sessions, translator).route_pending()


async def drain(sender: Sender, sessions: SessionMaker, timeout: float = 60.0) -> None:
    """Run the sender until no row is pending or sending (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await sender.drain_once()
        async with sessions() as s:
            left = await s.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status.in_(("pending", "sending")))
            )
        if not left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("outbox did not drain in time")


async def all_sent(sessions: SessionMaker, within: float) -> None:
    """Until every row is sent, by other processes' senders too (at most `within` s)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with sessions() as s:
            left = await s.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status != "sent")
            )
        if not left:
            return
        await asyncio.sleep(0.2)


def counts(sim: BotAPISimulator, chats: list[int]) -> Counter[int]:
    return Counter({c: len(sim.received(c)) for c in chats})


async def test_fanout_reaches_every_subscriber_exactly_once(
    sessions: SessionMaker, translator: Translator, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi
    _, chats = await seed(sessions, 60, title=HOSTILE_TITLE, text="Текст <i>поста</i> & ещё")
    assert await route(sessions, translator) == 60
    assert await route(sessions, translator) == 0  # routed once
    sender = Sender(bot, sessions)  # type: ignore[arg-type]
    await drain(sender, sessions)
    assert set(counts(sim, chats).values()) == {1}
    assert sim.stats.rate_limited <= 3
    first = sim.received(chats[0])[0]
    # The hostile title arrives as literal text, not markup.
    assert HOSTILE_TITLE in first.text
    assert "Текст <i>поста</i> & ещё" in first.text
    async with sessions() as s:
        statuses = set(await s.scalars(select(Delivery.status)))
    assert statuses == {"sent"}


async def test_long_deleted_post_is_split_and_delivered(
    sessions: SessionMaker, translator: Translator, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi
    archived = ("Слово & <b>знак</b> 😀 " * 1200).strip()
    payload_text = archived
    _, chats = await seed(sessions, 2, text=payload_text, kind=kinds.POST_DELETED)
    await route(sessions, translator)
    await drain(Sender(bot, sessions), sessions)  # type: ignore[arg-type]
    for chat in chats:
        messages = sim.received(chat)
        assert len(messages) >= 2
        joined = " ".join(m.text or "" for m in messages)
        # Every word of the archived text survives the split.
        assert joined.count("знак") >= archived.count("знак")
    async with sessions() as s:
        assert set(await s.scalars(select(Delivery.status))) == {"sent"}


async def test_429_retry_after_is_obeyed_and_nothing_lost(
    sessions: SessionMaker, translator: Translator
) -> None:
    limits = BotAPILimits(overall_per_second=5, overall_burst=2, per_chat_burst=1)
    sim = BotAPISimulator(token=TOKEN, limits=limits)
    await sim.start()
    bot = bot_for(sim)
    try:
        _, chats = await seed(sessions, 12)
        await route(sessions, translator)
        sender = Sender(bot, sessions, rate=1000.0)  # far above what the server allows
        await drain(sender, sessions)
        assert set(counts(sim, chats).values()) == {1}
        assert sim.stats.rate_limited >= 1
        assert sender.stats.retry_after == sim.stats.rate_limited
    finally:
        await bot.session.close()
        await sim.stop()


async def test_server_errors_are_retried_until_recovery(
    sessions: SessionMaker, translator: Translator, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi
    _, chats = await seed(sessions, 5)
    await route(sessions, translator)
    sim.set_down(True, status=500)
    sender = Sender(bot, sessions, retry_base=0.05, retry_max=0.2)  # type: ignore[arg-type]
    for _ in range(5):
        await sender.drain_once()
        await asyncio.sleep(0.1)
    assert sum(counts(sim, chats).values()) == 0
    async with sessions() as s:
        attempts = list(await s.scalars(select(Delivery.attempts)))
        assert all(a >= 1 for a in attempts)
    sim.set_down(False)
    await drain(sender, sessions)
    assert set(counts(sim, chats).values()) == {1}


@pytest.mark.parametrize(
    ("gone", "marker"),
    [("block", "blocked"), ("deactivate", "deactivated"), ("forget", "chat not found")],
)
async def test_blocked_subscriber_is_marked_and_not_retried(
    sessions: SessionMaker,
    translator: Translator,
    botapi: tuple[BotAPISimulator, object],
    gone: str,
    marker: str,
) -> None:
    sim, bot = botapi
    channel_id, chats = await seed(sessions, 3)
    blocked = chats[1]
    getattr(sim, gone)(blocked)
    await route(sessions, translator)
    sender = Sender(bot, sessions)  # type: ignore[arg-type]
    await drain(sender, sessions)
    async with sessions() as s:
        sub = await s.scalar(select(Subscriber).where(Subscriber.chat_id == blocked))
        row = await s.scalar(select(Delivery).where(Delivery.chat_id == blocked))
    assert sub is not None and sub.blocked_at is not None
    assert row is not None and row.status == "skipped" and marker in (row.last_error or "")
    refused_before = sim.stats.forbidden + sim.stats.bad_requests

    # The next event is not even routed to the blocked subscriber.
    async def second(s: AsyncSession) -> None:
        await events.record(
            s,
            channel_id=channel_id,
            dedupe_key="again",
            payload=payloads.PostNew(message_id=6, text="second"),
        )

    await transaction(sessions, second)
    assert await route(sessions, translator) == 2
    await drain(sender, sessions)
    assert sim.stats.forbidden + sim.stats.bad_requests == refused_before
    assert [len(sim.received(c)) for c in chats] == [2, 0, 2]


async def test_other_bad_request_fails_the_row_and_keeps_the_error(
    sessions: SessionMaker, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi
    _, chats = await seed(sessions, 2)

    async def bad(s: AsyncSession) -> None:
        subs = list(await s.scalars(select(Subscriber).order_by(Subscriber.id)))
        for i, sub in enumerate(subs):
            text = "<b>unclosed" if i == 0 else html.escape("<b>fine</b>")
            await outbox.enqueue(
                s,
                subscriber_id=sub.id,
                chat_id=sub.chat_id,
                kind="alert",
                dedupe_key=f"manual:{sub.id}",
                parts=[{"method": "sendMessage", "text": text}],
            )

    await transaction(sessions, bad)
    await drain(Sender(bot, sessions), sessions)  # type: ignore[arg-type]
    async with sessions() as s:
        rows = {r.chat_id: r for r in await s.scalars(select(Delivery))}
    assert rows[chats[0]].status == "failed"
    assert "can't parse entities" in (rows[chats[0]].last_error or "")
    assert rows[chats[1]].status == "sent"
    assert sim.received(chats[1])[0].text == "<b>fine</b>"


async def test_above_the_free_limit_only_paid_broadcasts_go_without_429(
    sessions: SessionMaker, translator: Translator, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi  # Telegram's limits: 30 msg/s free, 1,000 msg/s paid
    _, chats = await seed(sessions, 150)
    await route(sessions, translator)
    free = Sender(bot, sessions, rate=150, batch=60)  # type: ignore[arg-type]
    await free.drain_once()
    assert sim.stats.rate_limited > 0  # the free limit refuses what goes above it
    assert sim.stats.paid_messages == 0
    before = sum(counts(sim, chats).values())
    sim.limits = BotAPILimits()  # buckets full again
    paid = Sender(bot, sessions, rate=150, paid_broadcast=True)  # type: ignore[arg-type]
    refused = sim.stats.rate_limited
    await drain(paid, sessions)
    assert sim.stats.rate_limited == refused  # not one 429 more
    assert set(counts(sim, chats).values()) == {1}
    # At 150 msg/s some went above the free 30 msg/s (past its burst): Telegram charges those.
    assert 0 < sim.stats.paid_messages <= len(chats) - before
    assert sim.stats.requests["sendMessage"] == len(chats) + refused


@pytest.mark.postgres
async def test_two_senders_share_one_postgres_outbox(
    db_kind: str,
    sessions: SessionMaker,
    translator: Translator,
    botapi: tuple[BotAPISimulator, object],
) -> None:
    if db_kind != "postgres":
        pytest.skip("several senders share an outbox on PostgreSQL only; SQLite runs one")
    sim, bot = botapi
    sim.limits = BotAPILimits(overall_per_second=500, overall_burst=500)
    _, chats = await seed(sessions, 120)
    await route(sessions, translator)
    a = Sender(bot, sessions, rate=200, worker_id="a", batch=10)  # type: ignore[arg-type]
    b = Sender(bot, sessions, rate=200, worker_id="b", batch=10)  # type: ignore[arg-type]
    await asyncio.gather(drain(a, sessions), drain(b, sessions))
    assert set(counts(sim, chats).values()) == {1}
    assert a.stats.sent > 0 and b.stats.sent > 0


async def test_sender_killed_mid_fanout_then_restarted_sends_each_once(
    db_url: str,
    sessions: SessionMaker,
    translator: Translator,
    botapi: tuple[BotAPISimulator, object],
) -> None:
    sim, _bot = botapi
    sim.limits = BotAPILimits(overall_per_second=40, overall_burst=5)
    _, chats = await seed(sessions, 150)
    await route(sessions, translator)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests.send_proc", db_url, sim.base_url, sim.token, "2"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        ready = first.stdout.readline().decode() if first.stdout else ""
        bound = int(ready.strip().removeprefix("ready repeat_bound="))
        # The figure the README states: concurrency (16) + messages accepted within one
        # commit interval at 30 msg/s (ceil(30 x 0.05) = 2).
        assert bound == repeat_bound(rate=30.0) == 18
        deadline = time.monotonic() + 60
        while sum(counts(sim, chats).values()) < 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    delivered_at_kill = sum(counts(sim, chats).values())
    assert 50 <= delivered_at_kill < 150
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        await all_sent(sessions, within=90)
    finally:
        second.kill()
        second.wait(10)
    got = counts(sim, chats)
    assert min(got.values()) == 1, "a subscriber lost the alert"
    # Only messages in flight or accepted but not yet recorded at the kill may go twice.
    assert sum(got.values()) - len(chats) <= bound
    assert max(got.values()) <= 2


async def test_rows_claimed_by_a_crashed_sender_wait_only_where_another_may_hold_them(
    db_kind: str,
    sessions: SessionMaker,
    translator: Translator,
    botapi: tuple[BotAPISimulator, object],
) -> None:
    sim, bot = botapi
    _, chats = await seed(sessions, 3)
    await route(sessions, translator)
    crashed = Sender(bot, sessions, worker_id="crashed")  # type: ignore[arg-type]
    assert len(await crashed.claim()) == 3  # and then the process died
    successor = Sender(bot, sessions, worker_id="next")  # type: ignore[arg-type]
    recovered = await successor.recover()
    await successor.drain_once()
    if db_kind == "sqlite":
        # The only sender there is: the rows are taken over at once and sent once.
        assert recovered == 3
        assert set(counts(sim, chats).values()) == {1}
    else:
        # Another live sender may hold them: they wait for their lease.
        assert recovered == 0
        assert sum(counts(sim, chats).values()) == 0


async def test_a_slow_chat_does_not_hold_up_the_others(
    sessions: SessionMaker, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi
    sim.limits = BotAPILimits(overall_per_second=500, overall_burst=500)
    _, chats = await seed(sessions, 31)
    slow, others = chats[0], chats[1:]

    async def queue(s: AsyncSession) -> None:
        subs = {sub.chat_id: sub for sub in await s.scalars(select(Subscriber))}
        # Four for one chat first (Telegram allows it one a second), then one for each other.
        plan = [(slow, i) for i in range(1, 5)] + [(chat, 1) for chat in others]
        for chat, n in plan:
            await outbox.enqueue(
                s,
                subscriber_id=subs[chat].id,
                chat_id=chat,
                kind="alert",
                dedupe_key=f"manual:{chat}:{n}",
                parts=outbox.messages([f"сообщение {n}"]),
            )

    await transaction(sessions, queue)
    # Batches of 5: the slow chat's four rows share the first with one other chat.
    sender = Sender(bot, sessions, rate=200, batch=5)  # type: ignore[arg-type]
    await sender.start()
    try:
        deadline = time.monotonic() + 30
        while min(counts(sim, others).values()) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        # Everybody else has theirs while the slow chat is still being served.
        assert set(counts(sim, others).values()) == {1}
        assert len(sim.received(slow)) < 4
        while len(sim.received(slow)) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
    assert [m.text for m in sim.received(slow)] == [f"сообщение {n}" for n in range(1, 5)]
    assert set(counts(sim, others).values()) == {1}


async def alerts(sessions: SessionMaker, chat: int, *numbers: int) -> None:
    """Queue alerts "тревога N" for the chat's subscriber, in this order."""

    async def work(s: AsyncSession) -> None:
        sub = await s.scalar(select(Subscriber).where(Subscriber.chat_id == chat))
        assert sub is not None
        for n in numbers:
            await outbox.enqueue(
                s,
                subscriber_id=sub.id,
                chat_id=chat,
                kind="alert",
                dedupe_key=f"manual:{n}",
                parts=outbox.messages([f"тревога {n}"]),
            )

    await transaction(sessions, work)


@pytest.mark.parametrize("status", [500, 429])
async def test_a_chat_gets_its_alerts_in_order_when_the_first_must_wait(
    sessions: SessionMaker, botapi: tuple[BotAPISimulator, object], status: int
) -> None:
    sim, bot = botapi
    _, [chat] = await seed(sessions, 1)
    await alerts(sessions, chat, 1, 2, 3)
    # Alert 1 is answered with a server error (it backs off) or a 429 (the chat pauses).
    sim.fail_next(1, status=status, methods=["sendMessage"])
    await drain(Sender(bot, sessions, retry_base=0.2, retry_max=0.2), sessions)  # type: ignore[arg-type]
    assert [m.text for m in sim.received(chat)] == ["тревога 1", "тревога 2", "тревога 3"]


async def test_a_chat_s_next_alert_follows_as_soon_as_the_one_before_is_recorded(
    sessions: SessionMaker, botapi: tuple[BotAPISimulator, object]
) -> None:
    sim, bot = botapi
    _, [chat] = await seed(sessions, 1)

    async def status_of(key: str) -> str | None:
        async with sessions() as s:
            return await s.scalar(select(Delivery.status).where(Delivery.dedupe_key == key))

    sim.set_latency(0.5)  # alert 1 is still on its way when alert 2 is queued
    # The sender looks at the queue by itself only every 30 s.
    sender = Sender(bot, sessions, idle_poll=30.0)  # type: ignore[arg-type]
    await alerts(sessions, chat, 1)
    await sender.start()
    try:
        deadline = time.monotonic() + 10
        while await status_of("manual:1") != "sending" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await alerts(sessions, chat, 2)
        sender.wake()  # as routing does: alert 2 must wait behind alert 1, which is open
        while len(sim.received(chat)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
    # Alert 2 went once alert 1 was recorded, not at the sender's next look 30 s later.
    assert [m.text for m in sim.received(chat)] == ["тревога 1", "тревога 2"]


@pytest.mark.postgres
@pytest.mark.skipif(not FAKETIME.exists(), reason="Debian's faketime is not installed")
async def test_a_sender_whose_clock_runs_ahead_takes_no_row_another_sender_holds(
    pg: tuple[str, SessionMaker],
    translator: Translator,
    botapi: tuple[BotAPISimulator, object],
) -> None:
    """Two senders on one PostgreSQL, the second on a machine whose clock runs a minute
    ahead (a real process under libfaketime): it must not see the first one's leases as
    run out and send what the first is sending. Leases go by the database's clock."""
    url, sessions = pg
    sim, bot = botapi
    sim.limits = BotAPILimits(overall_per_second=500, overall_burst=500)
    _, chats = await seed(sessions, 200)
    await route(sessions, translator)
    sim.set_latency(0.3)  # every send is slow: rows stay claimed while they go out
    first = Sender(bot, sessions, rate=200, worker_id="here", batch=40, lease=3.0)  # type: ignore[arg-type]
    await first.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **clock_ahead("+60s")}
    cmd = [sys.executable, "-m", "tests.send_proc", url, sim.base_url, sim.token, "3"]
    ahead = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        await all_sent(sessions, within=90)
    finally:
        ahead.kill()
        ahead.wait(10)
        await first.stop()
    got = counts(sim, chats)
    twice = sorted(c for c, n in got.items() if n > 1)
    assert not twice, f"{len(twice)} chats got the alert twice"
    assert set(got.values()) == {1}
    assert first.stats.sent > 0
