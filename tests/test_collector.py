"""The collector against the simulated Telegram, through Telethon's own client code."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from telethon import TelegramClient

from collectors.collector import HISTORY, Collector, CollectorConfig, Deferred
from simulator.mtproto import World
from storage import kinds, status
from storage.assignments import Held
from storage.db import SessionMaker, transaction
from storage.models import Channel, ChannelSnapshot, Event, Post, PostVersion, ServiceStatus
from storage.types import utcnow
from tests.support import connected, watched_channel


@dataclass
class Rig:
    world: World
    client: TelegramClient
    collector: Collector
    sessions: SessionMaker

    async def settle(self, until: Callable[[], object] | None = None, timeout: float = 10) -> None:
        """Let live updates land and run collector passes until `until()` holds (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            await asyncio.sleep(0.05)
            await self.collector.run_once()
            if until is None or await until():  # type: ignore[misc]
                return
            if time.monotonic() > deadline:
                raise AssertionError("collector did not settle")

    async def events(self) -> list[Event]:
        async with self.sessions() as s:
            return list(await s.scalars(select(Event).order_by(Event.id)))


@pytest_asyncio.fixture
async def rig(sessions: SessionMaker) -> AsyncIterator[Rig]:
    world = World(service_messages=False)
    world.create_channel(
        username="putdomoi", title="Путь домой", about="Движение", participants=50_000
    )
    client, collector = await connected(world, sessions)
    yield Rig(world, client, collector, sessions)
    await collector.stop()
    await client.disconnect()


async def watch(rig: Rig, handle: str = "@putdomoi") -> int:
    channel, code = await rig.collector.watch(handle, added_by=1)
    assert channel is not None, code
    await rig.collector.run_once()  # first refresh, quiet backfill, join
    return channel.id


def key(e: Event) -> tuple[str, str]:
    p = e.payload
    detail = p.get("label") or p.get("after") or p.get("reason") or p.get("message_id") or ""
    if e.kind == kinds.SUBSCRIBERS_JUMP:
        detail = f"{p['before']}->{p['after']}"
    if e.kind in (kinds.POST_NEW, kinds.POST_EDITED, kinds.POST_DELETED):
        detail = p["message_id"]
    return e.kind, str(detail)


async def test_scripted_week_yields_exactly_the_expected_events(rig: Rig) -> None:
    w = rig.world
    old = [w.post("putdomoi", f"старый пост {i}") for i in range(5)]
    channel_id = await watch(rig)
    assert await rig.events() == [], "the backlog of a new channel is archived quietly"
    async with rig.sessions() as s:
        ch = await s.get(Channel, channel_id)
        assert ch is not None and ch.joined and ch.last_message_id == old[-1]

    expected: list[tuple[str, str]] = []
    new = [w.post("putdomoi", f"Новый пост {i} <b>&</b>") for i in range(3)]
    expected += [(kinds.POST_NEW, str(i)) for i in new]
    w.edit("putdomoi", new[1], "Исправленный пост")
    expected.append((kinds.POST_EDITED, str(new[1])))
    w.delete("putdomoi", [new[2]])
    expected.append((kinds.POST_DELETED, str(new[2])))
    w.delete("putdomoi", [old[1]], push=False)  # Telegram sometimes does not tell
    expected.append((kinds.POST_DELETED, str(old[1])))
    w.set_label("putdomoi", fake=True)
    expected.append((kinds.LABEL_ADDED, "fake"))
    await rig.settle(lambda: _count(rig, len(expected)))
    w.set_label("putdomoi", fake=False)
    expected.append((kinds.LABEL_REMOVED, "fake"))
    await rig.settle(lambda: _count(rig, len(expected)))
    w.set_label("putdomoi", fake=True)  # and Telegram brands it again
    expected.append((kinds.LABEL_ADDED, "fake"))
    w.restrict("putdomoi", "android", "sensitive", "Недоступно на Android")
    expected.append((kinds.LABEL_ADDED, "restricted:android:sensitive"))
    await rig.settle(lambda: _count(rig, len(expected)))
    w.rename("putdomoi", "Путь домой (архив)")
    expected.append((kinds.RENAMED, "Путь домой (архив)"))
    await rig.settle(lambda: _count(rig, len(expected)))
    w.set_username("putdomoi", "putdomoi_new")
    expected.append((kinds.USERNAME_CHANGED, "putdomoi_new"))
    await rig.settle(lambda: _count(rig, len(expected)))
    w.make_private("putdomoi_new")
    expected += [(kinds.USERNAME_CHANGED, ""), (kinds.UNAVAILABLE, "username_released")]
    await rig.settle(lambda: _count(rig, len(expected)))
    w.make_public(channel_tg_id(rig), "putdomoi")
    expected += [(kinds.USERNAME_CHANGED, "putdomoi"), (kinds.AVAILABLE, "")]
    await rig.settle(lambda: _count(rig, len(expected)))
    w.set_participants("putdomoi", 65_000)  # read on the periodic refresh
    await rig.collector.refresh(channel_id)
    expected.append((kinds.SUBSCRIBERS_JUMP, "50000->65000"))
    await rig.settle(lambda: _count(rig, len(expected)))
    await rig.settle()  # one more pass: nothing new may appear

    got = Counter(key(e) for e in await rig.events())
    want = Counter(expected)
    true_pos = sum((got & want).values())
    recall = true_pos / sum(want.values())
    precision = true_pos / max(sum(got.values()), 1)
    print(
        f"collector scenario: recall={recall:.3f} precision={precision:.3f} "
        f"({true_pos} of {sum(want.values())} expected, {sum(got.values())} recorded)"
    )
    assert got == want, f"missing {want - got}, invented or doubled {got - want}"

    async with rig.sessions() as s:
        versions = list(
            await s.scalars(
                select(PostVersion.text)
                .join(Post)
                .where(Post.message_id == new[1])
                .order_by(PostVersion.version)
            )
        )
        deleted = await s.scalar(select(Post).where(Post.message_id == old[1]))
    assert versions == ["Новый пост 1 <b>&</b>", "Исправленный пост"]
    assert deleted is not None and deleted.deleted_at is not None
    assert deleted.text == "старый пост 1", "the archive keeps what was deleted"


def channel_tg_id(rig: Rig) -> int:
    return next(iter(rig.world.channels.values())).id


async def _count(rig: Rig, n: int) -> bool:
    async with rig.sessions() as s:
        return (await s.scalar(select(func.count()).select_from(Event))) >= n


async def test_min_channel_update_is_not_read_as_a_change(rig: Rig) -> None:
    rig.world.set_label("putdomoi", fake=True)
    await watch(rig)
    rig.world.set_min_channel_updates("putdomoi", True)
    rig.world.set_about("putdomoi", "Новое описание")
    await rig.settle(lambda: _count(rig, 1))
    assert [key(e) for e in await rig.events()] == [(kinds.ABOUT_CHANGED, "Новое описание")]


async def test_restart_catches_up_every_missed_post_in_order(
    rig: Rig, sessions: SessionMaker
) -> None:
    channel_id = await watch(rig)
    rig.world.post("putdomoi", "before the stop")
    await rig.settle(lambda: _count(rig, 1))
    await rig.collector.stop()
    await rig.client.disconnect()

    missed = [rig.world.post("putdomoi", f"пока нас не было {i}") for i in range(250)]

    client, collector = await connected(rig.world, sessions)
    try:
        await collector.run_once()
        await collector.run_once()
    finally:
        await collector.stop()
        await client.disconnect()
    async with sessions() as s:
        new = list(
            await s.scalars(select(Event).where(Event.kind == kinds.POST_NEW).order_by(Event.id))
        )
        ch = await s.get(Channel, channel_id)
    ids = [e.payload["message_id"] for e in new]
    assert ids[1:] == missed, "every missed post once, in order"
    assert ch is not None and ch.last_message_id == missed[-1]


async def test_flood_wait_delays_that_request_type_only(rig: Rig) -> None:
    channel_id = await watch(rig)
    rig.world.flood_wait("GetHistoryRequest", 30)
    with pytest.raises(Deferred) as caught:
        await rig.collector.poll(channel_id)
    assert caught.value.seconds == 30
    assert 29 <= rig.collector.gate.remaining(HISTORY) <= 30
    # The next poll does not even ask Telegram.
    asked = rig.world.count_requests("GetHistoryRequest")
    with pytest.raises(Deferred):
        await rig.collector.poll(channel_id)
    assert rig.world.count_requests("GetHistoryRequest") == asked
    # Everything else keeps working: a label change is still seen.
    rig.world.set_label("putdomoi", scam=True)
    await rig.settle(lambda: _count(rig, 1))
    assert [key(e) for e in await rig.events()] == [(kinds.LABEL_ADDED, "scam")]
    async with rig.sessions() as s:
        ch = await s.get(Channel, channel_id)
        status = await s.get(ServiceStatus, "collector:default")
    assert ch is not None and ch.next_poll_at is not None
    assert status is not None and HISTORY in status.data["flood_waits"]


async def test_a_divided_collectors_lag_is_over_the_channels_it_holds(rig: Rig) -> None:
    # The row all collectors shared before, left by an upgrade: nobody writes it any more.
    await transaction(rig.sessions, lambda s: status.put(s, "collector", {"lag_seconds": 9}))
    mine = await watch(rig)
    # Another account's channel, an hour overdue: that account is behind, not this one.
    other = await watched_channel(rig.sessions, 2002, "elsewhere")

    async def overdue(s: AsyncSession) -> None:
        ch = await s.get(Channel, other)
        assert ch is not None
        ch.next_poll_at = utcnow() - timedelta(hours=1)

    await transaction(rig.sessions, overdue)
    rig.collector.divided(lambda: None)
    rig.collector.hold(
        Held(
            channels=frozenset({mine}),
            lease_until=utcnow() + timedelta(minutes=1),
            hashes={},
            joined=frozenset(),
            banned=frozenset(),
            limited=False,
        )
    )
    await rig.collector.run_once()
    async with rig.sessions() as s:
        report = await s.get(ServiceStatus, "collector:default")
        shared = await s.get(ServiceStatus, "collector")
    assert report is not None and report.data["lag_seconds"] < 60, report.data
    assert shared is None


async def test_lost_connection_reconnects_and_catches_up(rig: Rig) -> None:
    await watch(rig)
    rig.world.disconnect_clients()
    posted = rig.world.post("putdomoi", "posted while disconnected")
    await rig.settle(lambda: _count(rig, 1))
    assert rig.client.is_connected()
    assert [key(e) for e in await rig.events()] == [(kinds.POST_NEW, str(posted))]


@pytest.mark.parametrize(
    ("handle", "code"),
    [
        ("@nobody_here", "not_found"),
        ("https://t.me/+AbCdEfGh", "private_link"),
        ("@a", "invalid"),
        ("@some_person", "is_user"),
        ("@some_bot", "is_bot"),
        ("12345", "unknown_id"),
    ],
)
async def test_watch_refuses_what_is_not_a_public_channel(rig: Rig, handle: str, code: str) -> None:
    rig.world.create_user("some_person")
    rig.world.create_bot("some_bot")
    channel, got = await rig.collector.watch(handle, added_by=1)
    assert channel is None and got == code


async def test_watch_accepts_every_handle_form_and_resolves_once(rig: Rig) -> None:
    first, code = await rig.collector.watch("https://t.me/s/putdomoi", added_by=1)
    assert first is not None and code == "added"
    resolved = rig.world.count_requests("ResolveUsernameRequest")
    for form in ("@putdomoi", "t.me/putdomoi", "PUTDOMOI", str(first.tg_id)):
        again, code = await rig.collector.watch(form, added_by=1)
        assert again is not None and again.id == first.id and code == "already"
    assert rig.world.count_requests("ResolveUsernameRequest") == resolved


async def test_poll_interval_adapts_within_its_bounds(rig: Rig) -> None:
    config = CollectorConfig(
        poll_min=10, poll_max=40, refresh_every=3600, reconcile_every=3600, join_cap=0
    )  # not joined: polling is how posts are seen
    rig.collector.config = config
    for i in range(5):
        rig.world.post("putdomoi", f"старый {i}")
    channel_id = await watch(rig)  # the backlog counts as new posts: the interval halves

    async def interval() -> float:
        async with rig.sessions() as s:
            ch = await s.get(Channel, channel_id)
            assert ch is not None
            return ch.poll_interval_s

    seen = [await interval()]
    for _ in range(6):  # quiet: the interval grows, up to the bound
        await rig.collector.poll(channel_id)
        seen.append(await interval())
    rig.world.post("putdomoi", "новый")
    await rig.collector.poll(channel_id)
    seen.append(await interval())
    assert all(10 <= s <= 40 for s in seen), seen
    assert seen[-2] == 40 and seen[-1] == 20


async def test_channel_change_pushed_during_a_refresh_flood_wait_is_read_when_it_ends(
    rig: Rig,
) -> None:
    """UpdateChannel while channels.GetChannels is flood-waited: the "refresh now" waits
    with the flood wait and runs as soon as it ends, not at the next periodic refresh."""
    await watch(rig)
    rig.world.flood_wait("GetChannelsRequest", 2)
    rig.world.set_label("putdomoi", fake=True)  # pushes UpdateChannel
    await rig.settle(lambda: _asked(rig, "GetChannelsRequest", 2))  # the first try: flooded
    assert await rig.events() == []
    started = time.monotonic()
    await rig.settle(lambda: _count(rig, 1), timeout=8)
    assert time.monotonic() - started < 6, "read when the 2 s wait ended"
    assert [key(e) for e in await rig.events()] == [(kinds.LABEL_ADDED, "fake")]


async def _asked(rig: Rig, request: str, n: int) -> bool:
    return rig.world.count_requests(request) >= n


async def _unavailable(rig: Rig) -> list[Event]:
    return [e for e in await rig.events() if e.kind == kinds.UNAVAILABLE]


async def _channel_row(rig: Rig, channel_id: int) -> Channel:
    async with rig.sessions() as s:
        ch = await s.get(Channel, channel_id)
    assert ch is not None
    return ch


@pytest.mark.parametrize(
    ("joined", "change", "reason", "username"),
    [
        # A member of a private channel reads on and a banned one gets ChannelForbidden:
        # CHANNEL_PRIVATE to a member says the channel is gone.
        (True, "delete", "deleted", None),
        (True, "ban", "banned", "putdomoi"),
        # To anyone else CHANNEL_PRIVATE is the same answer for both: the event says so.
        (False, "delete", "private_or_deleted", None),
        (False, "private", "private_or_deleted", None),
    ],
)
async def test_unavailable_event_tells_deleted_from_private_where_telegram_does(
    rig: Rig, joined: bool, change: str, reason: str, username: str | None
) -> None:
    if not joined:
        rig.collector.config = CollectorConfig(
            poll_min=0.01, poll_max=0.05, refresh_every=3600, reconcile_every=0, join_cap=0
        )
    channel_id = await watch(rig)
    assert (await _channel_row(rig, channel_id)).joined is joined
    {"delete": rig.world.delete_channel, "ban": rig.world.ban, "private": rig.world.make_private}[
        change
    ]("putdomoi")
    if joined:
        await rig.settle(lambda: _count(rig, 1))
    else:
        await rig.collector.refresh(channel_id)  # nothing is pushed to a non-member
    [event] = await _unavailable(rig)
    assert event.payload["reason"] == reason
    assert event.payload["answer"] == ("channelForbidden" if change == "ban" else "CHANNEL_PRIVATE")
    ch = await _channel_row(rig, channel_id)
    assert not ch.reachable and ch.unavailable_reason == reason
    assert ch.username == username, "a deleted or private channel holds no username"
    if username is None:
        assert event.payload["username"] == "putdomoi", "the released name stays in its history"


async def test_username_taken_by_a_new_channel_after_deletion_is_watched_as_that_channel(
    rig: Rig,
) -> None:
    dead_id = await watch(rig)
    dead_tg = channel_tg_id(rig)
    rig.world.delete_channel("putdomoi")
    await rig.settle(lambda: _count(rig, 1))
    impostor = rig.world.create_channel(username="putdomoi", title="Самозванец", about="")

    channel, code = await rig.collector.watch("@putdomoi", added_by=1)
    assert channel is not None and code == "added", code
    assert channel.id != dead_id and channel.tg_id == impostor.id != dead_tg
    assert channel.title == "Самозванец" and channel.username == "putdomoi"
    dead = await _channel_row(rig, dead_id)
    assert dead.username is None and dead.watched, "the dead channel keeps its archive"
    async with rig.sessions() as s:
        history = set(
            await s.scalars(
                select(ChannelSnapshot.username).where(ChannelSnapshot.channel_id == dead_id)
            )
        )
    assert history == {"putdomoi"}, "its snapshots keep the name it had"


async def test_watch_resolves_afresh_when_the_stored_channel_is_unavailable(rig: Rig) -> None:
    """Banned for this account: the channel keeps its name. It is then deleted and another
    channel takes the name before the backed-off refresh notices: /watch asks Telegram."""
    dead_id = await watch(rig)
    rig.world.ban("putdomoi")
    await rig.settle(lambda: _count(rig, 1))
    assert (await _channel_row(rig, dead_id)).username == "putdomoi"
    rig.world.delete_channel("putdomoi")
    impostor = rig.world.create_channel(username="putdomoi", title="Самозванец", about="")
    resolved = rig.world.count_requests("ResolveUsernameRequest")

    channel, code = await rig.collector.watch("t.me/putdomoi", added_by=1)
    assert rig.world.count_requests("ResolveUsernameRequest") == resolved + 1
    assert channel is not None and code == "added" and channel.tg_id == impostor.id
    dead = await _channel_row(rig, dead_id)
    assert dead.username is None, "the name now leads to another channel"
    again, code = await rig.collector.watch("@putdomoi", added_by=1)
    assert again is not None and again.id == channel.id and code == "already"
