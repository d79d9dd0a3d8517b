"""The whole system as a user runs it, killed with SIGKILL at random points and restarted:
every expected alert and digest arrives exactly once and the archive is complete."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.delivery import repeat_bound
from simulator.mtproto import World
from storage import kinds
from storage.db import SessionMaker, create_engine, session_factory
from storage.models import Delivery, Digest, Event, MediaFile, Post, Subscriber
from tests import pgserver
from tests.pgserver import PrivateServer
from tests.scenario import MODERATOR, Cluster, running_cluster

pytestmark = pytest.mark.slow
SUBSCRIBERS = [2001, 2002, 2003, 2004]


@pytest_asyncio.fixture
async def cluster(db_url: str, sessions: SessionMaker, tmp_path: Path) -> AsyncIterator[Cluster]:
    world = World(service_messages=False)
    world.create_channel(
        username="putdomoi", title="Путь домой", about="Движение", participants=40_000
    )
    for i in range(3):
        world.post("putdomoi", f"архив {i}")
    async with running_cluster(world, db_url, tmp_path, sessions) as c:
        yield c


async def enrol(c: Cluster) -> None:
    """A moderator watches the channel; subscribers join through the bot."""
    c.start()
    await c.polling()
    c.sim.user_sends(MODERATOR, "/watch @putdomoi")
    await c.replies(MODERATOR, 2, "the watch outcome")
    assert "Now watching" in (c.sim.received(MODERATOR)[-1].text or "")
    for i, user in enumerate(SUBSCRIBERS):
        lang = "ru" if i % 2 else "en"
        c.sim.user_sends(user, "/start", language_code=lang)
        c.sim.user_sends(user, "/subscribe @putdomoi", language_code=lang)
        await c.replies(user, 2, f"subscriber {user} enrolled")


# What one kill of `chanwatch run` (default DELIVERY_RATE) may send again, at most.
KILL_REPEATS = repeat_bound(rate=30.0)


async def event_count(c: Cluster) -> int:
    async with c.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Event)) or 0


async def test_kill9_at_random_points_loses_nothing_and_sends_nothing_twice(
    cluster: Cluster,
) -> None:
    c, w = cluster, cluster.world
    rng = random.Random(20261123)
    await enrol(c)
    baseline = {u: len(c.sim.received(u)) for u in SUBSCRIBERS}

    posts: list[int] = []
    expected: list[tuple[str, str]] = []

    def post(text: str) -> Callable[[], None]:
        def act() -> None:
            posts.append(w.post("putdomoi", text))
            expected.append((kinds.POST_NEW, str(posts[-1])))

        return act

    def edit(index: int) -> Callable[[], None]:
        def act() -> None:
            w.edit("putdomoi", posts[index], f"исправлено {index}")
            expected.append((kinds.POST_EDITED, str(posts[index])))

        return act

    def delete(index: int, push: bool) -> Callable[[], None]:
        def act() -> None:
            w.delete("putdomoi", [posts[index]], push=push)
            expected.append((kinds.POST_DELETED, str(posts[index])))

        return act

    def channel(action: Callable[[], None], *events: tuple[str, str]) -> Callable[[], None]:
        def act() -> None:
            action()
            expected.extend(events)

        return act

    script = [
        *(post(f"пост {i}: требуем вернуть мобилизованных") for i in range(6)),
        edit(1),
        delete(2, push=True),
        delete(3, push=False),  # Telegram does not always say
        channel(lambda: w.set_label("putdomoi", fake=True), (kinds.LABEL_ADDED, "fake")),
        post("пост после метки"),
        channel(
            lambda: w.restrict("putdomoi", "android", "sensitive", "Недоступно"),
            (kinds.LABEL_ADDED, "restricted:android:sensitive"),
        ),
        channel(
            lambda: w.rename("putdomoi", "Путь домой — архив"),
            (kinds.RENAMED, "Путь домой — архив"),
        ),
        channel(lambda: w.set_participants("putdomoi", 52_000), (kinds.SUBSCRIBERS_JUMP, "52000")),
        edit(4),
        *(post(f"вечерний пост {i}") for i in range(3)),
    ]
    kill_after = set(rng.sample(range(len(script)), 3))
    for step, act in enumerate(script):
        act()
        if step in kill_after:
            c.kill9()
            # The world goes on while chanwatch is down.
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            c.start()
        want = len(expected)
        await c.until(f"step {step} recorded", lambda n=want: _at_least(c, n), within=90)
    # A kill in the middle of the fan-out.
    await asyncio.sleep(rng.uniform(0.0, 0.5))
    c.kill9()
    c.start()
    await c.until("every alert delivered", c.outbox_drained, within=120)

    async with c.sessions() as s:
        events = list(await s.scalars(select(Event)))
        got = Counter(_key(e) for e in events)
        deliveries = list(await s.scalars(select(Delivery).where(Delivery.kind == "alert")))
        subs = {sub.id: sub.chat_id for sub in await s.scalars(select(Subscriber))}
        archive = {p.message_id: p for p in await s.scalars(select(Post))}
    assert got == Counter(expected), (
        f"missing {Counter(expected) - got}, extra {got - Counter(expected)}"
    )

    # One delivery per (subscriber, event), all sent; each chat got exactly those messages.
    per_chat = Counter(subs[d.subscriber_id] for d in deliveries)
    assert all(d.status == "sent" for d in deliveries)
    assert set(per_chat.values()) == {len(events)}
    parts = Counter()
    for d in deliveries:
        parts[subs[d.subscriber_id]] += len(d.parts)
    duplicates = 0
    for user in SUBSCRIBERS:
        received = len(c.sim.received(user)) - baseline[user]
        assert received >= parts[user], f"chat {user} lost alerts"
        duplicates += received - parts[user]
    # Only messages in flight or not yet recorded at a kill may go twice (the stated bound).
    assert duplicates <= c.kills * KILL_REPEATS

    # The archive is complete: every post ever seen, deleted ones kept with their text.
    for message_id in posts:
        assert message_id in archive
    assert archive[posts[2]].deleted_at is not None and archive[posts[3]].deleted_at is not None
    assert archive[posts[1]].text == "исправлено 1" and archive[posts[1]].version == 2

    # The weekly digest, killed once the bot has told the moderator it started: once each.
    # (A kill before that answer loses only the press: the question keeps its buttons.)
    before = {u: len(c.sim.received(u)) for u in SUBSCRIBERS}
    kills = c.kills
    c.sim.user_sends(MODERATOR, "/digest_run")
    await c.replies(MODERATOR, 1, "the digest confirmation question")
    question = c.sim.received(MODERATOR)[-1].message_id
    c.press(MODERATOR, "dr:yes")
    await c.until("the moderator told the digest started", lambda: _answered(c, question))
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    c.kill9()
    c.start()
    await c.until("a digest for every subscriber", lambda: _digests(c, len(SUBSCRIBERS)), within=90)
    await c.until("digests delivered", c.outbox_drained, within=90)
    async with c.sessions() as s:
        digest_rows = list(await s.scalars(select(Delivery).where(Delivery.kind == "digest")))
    assert sorted(subs[d.subscriber_id] for d in digest_rows) == sorted(SUBSCRIBERS)
    extra = 0
    for d in digest_rows:
        chat = subs[d.subscriber_id]
        got_now = len(c.sim.received(chat)) - before[chat]
        assert got_now >= len(d.parts), f"chat {chat} lost its digest"
        extra += got_now - len(d.parts)
    assert extra <= (c.kills - kills) * KILL_REPEATS


async def _at_least(c: Cluster, n: int) -> bool:
    return await event_count(c) >= n


def _answered(c: Cluster, message_id: int) -> bool:
    """The confirmation question was edited into the bot's answer to the press."""
    return any(m.message_id == message_id and m.edited for m in c.sim.received(MODERATOR))


async def _digests(c: Cluster, n: int) -> bool:
    async with c.sessions() as s:
        return (await s.scalar(select(func.count()).select_from(Digest))) == n


def _key(e: Event) -> tuple[str, str]:
    p = e.payload
    if e.kind in (kinds.POST_NEW, kinds.POST_EDITED, kinds.POST_DELETED):
        return e.kind, str(p["message_id"])
    if e.kind == kinds.SUBSCRIBERS_JUMP:
        return e.kind, str(p["after"])
    return e.kind, str(p.get("label") or p.get("after") or "")


async def test_recovers_from_bot_api_outage_telegram_disconnect_and_flood_wait(
    cluster: Cluster,
) -> None:
    c, w = cluster, cluster.world
    await enrol(c)
    baseline = {u: len(c.sim.received(u)) for u in SUBSCRIBERS}

    c.sim.set_down(True, status=502)  # the Bot API is down
    first = w.post("putdomoi", "пост, пока Bot API лежит")
    await c.until("recorded while the Bot API is down", lambda: _at_least(c, 1))
    await asyncio.sleep(2)
    c.sim.set_down(False)

    w.disconnect_clients()  # Telegram drops the collector's connection
    second = w.post("putdomoi", "пост, пока соединение потеряно")
    await c.until("recorded after reconnecting", lambda: _at_least(c, 2))

    w.flood_wait("GetHistoryRequest", 3, times=2)  # Telegram asks the collector to wait
    w.flood_wait("GetChannelsRequest", 2)
    third = w.post("putdomoi", "пост во время FLOOD_WAIT", push=False)
    await c.until("recorded after the flood wait", lambda: _at_least(c, 3), within=60)

    await c.until("delivered", c.outbox_drained, within=60)
    async with c.sessions() as s:
        ids = sorted(e.payload["message_id"] for e in await s.scalars(select(Event)))
    assert ids == [first, second, third]
    async with c.sessions() as s:
        rows = [
            (d.chat_id, d.status, d.attempts, d.last_error)
            for d in await s.scalars(select(Delivery).order_by(Delivery.id))
        ]
    for user in SUBSCRIBERS:
        assert len(c.sim.received(user)) - baseline[user] == 3, rows


@pytest_asyncio.fixture
async def own_postgres() -> AsyncIterator[PrivateServer]:
    """A PostgreSQL server of this test's own, to stop and start for real."""
    if reason := pgserver.unavailable():
        pytest.skip(f"no private PostgreSQL server: {reason}")
    server = PrivateServer().init()
    try:
        server.start()
        yield server
    finally:
        server.close()


async def test_postgresql_stopped_for_30s_is_ridden_out(
    own_postgres: PrivateServer, tmp_path: Path
) -> None:
    """The database server itself stops for 30 s (every connection dropped, new ones
    refused) while the channel posts and is relabelled: chanwatch keeps running and, once
    the server is back, records everything and delivers each alert exactly once."""
    world = World(service_messages=False)
    world.create_channel(username="putdomoi", title="Путь домой", about="", participants=40_000)
    engine = create_engine(own_postgres.url)
    try:
        async with running_cluster(world, own_postgres.url, tmp_path, session_factory(engine)) as c:
            await enrol(c)
            baseline = {u: len(c.sim.received(u)) for u in SUBSCRIBERS}
            await engine.dispose()  # the test's own connections die with the server too
            own_postgres.stop()
            expected = [(kinds.POST_NEW, str(world.post("putdomoi", "пост во время аварии 0")))]
            await asyncio.sleep(10)
            world.set_label("putdomoi", fake=True)
            expected.append((kinds.LABEL_ADDED, "fake"))
            expected.append((kinds.POST_NEW, str(world.post("putdomoi", "пост во время аварии 1"))))
            await asyncio.sleep(10)
            world.restrict("putdomoi", "ios", "porn", "Недоступно на iOS")
            expected.append((kinds.LABEL_ADDED, "restricted:ios:porn"))
            expected.append((kinds.POST_NEW, str(world.post("putdomoi", "пост во время аварии 2"))))
            await asyncio.sleep(10)
            assert c.proc is not None and c.proc.poll() is None, "chanwatch died with its database"
            own_postgres.start()
            back = time.monotonic()
            expected.append((kinds.POST_NEW, str(world.post("putdomoi", "пост после аварии"))))
            n = len(expected)
            await c.until("recorded after the outage", lambda: _at_least(c, n), within=60)
            await c.until("delivered", c.outbox_drained, within=60)
            print(f"postgres outage: recorded and delivered {time.monotonic() - back:.1f}s after")
            async with c.sessions() as s:
                got = sorted(_key(e) for e in await s.scalars(select(Event)))
            assert got == sorted(expected), "every change once, nothing invented"
            for user in SUBSCRIBERS:
                assert len(c.sim.received(user)) - baseline[user] == n, user
    finally:
        await engine.dispose()


async def test_kill9_during_downloads_then_restart_completes_every_file(
    cluster: Cluster,
) -> None:
    c, w = cluster, cluster.world
    media_dir = c.workdir / "media"
    c.extra_env["MEDIA_DIR"] = str(media_dir)
    await enrol(c)
    photos = [w.photo(size=6 * 1024 * 1024, w=2560, h=1440) for _ in range(8)]
    for i, photo in enumerate(photos):
        w.post("putdomoi", f"фото {i}", media=photo)

    async def stored() -> int:
        async with c.sessions() as s:
            return (
                await s.scalar(
                    select(func.count())
                    .select_from(MediaFile)
                    .where(MediaFile.role == "post", MediaFile.status == "stored")
                )
                or 0
            )

    await c.until("the first download", lambda: _reaches(stored, 1), within=60)
    c.kill9()
    assert await stored() < len(photos), "every file was already fetched: kill earlier"
    c.start()
    await c.until("every download", lambda: _reaches(stored, len(photos)), within=120)
    async with c.sessions() as s:
        rows = list(
            await s.scalars(
                select(MediaFile).where(MediaFile.role == "post").order_by(MediaFile.id)
            )
        )
    assert sorted(r.sha256 for r in rows) == sorted(w.media_sha256(p) for p in photos)
    assert len({r.message_id for r in rows}) == len(rows) == len(photos)  # no duplicate row
    # No half-written file anywhere: the temporary folder is cleared at start, and every
    # file under a hash name hashes to that name.
    assert list((media_dir / "tmp").iterdir()) == []
    for path in media_dir.glob("*/*/*"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name


async def _reaches(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n
