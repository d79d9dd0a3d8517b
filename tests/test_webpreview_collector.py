"""The web-preview collector over real HTTP against the simulated world's t.me face."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from collectors.base import CollectorConfig
from collectors.webpreview.collector import WebCollector
from collectors.webpreview.fetch import USER_AGENT, Fetcher, FetchError, HostBudget
from collectors.webpreview.parse import parse_page
from simulator.mtproto import World
from simulator.webpreview import WebPreviewSimulator, abbreviate
from simulator.webpreview.server import render_channel
from storage import changes, channels, kinds, ledger
from storage.db import SessionMaker, transaction
from storage.models import Channel, Event, Post, WatchRequest
from storage.observations import ChannelSeen

CONFIG = CollectorConfig(
    poll_min=0.01, poll_max=0.05, refresh_every=3600, reconcile_every=0, jump_pct=10.0, tick=0.05
)
WITHHELD = "This channel can’t be displayed because it violated local laws."


@dataclass
class Rig:
    world: World
    sim: WebPreviewSimulator
    collector: WebCollector
    sessions: SessionMaker
    budget: HostBudget

    async def events(self) -> list[Event]:
        async with self.sessions() as s:
            return list(await s.scalars(select(Event).order_by(Event.id)))

    async def kinds_since(self, n: int) -> list[str]:
        return [e.kind for e in (await self.events())[n:]]

    async def channel(self, channel_id: int) -> Channel:
        async with self.sessions() as s:
            ch = await s.get(Channel, channel_id)
            assert ch is not None
            return ch


@pytest_asyncio.fixture
async def rig(sessions: SessionMaker) -> AsyncIterator[Rig]:
    world = World()
    world.create_channel(
        username="putdomoi",
        title="Путь домой",
        about="Движение жён и матерей.\nВерните наших мужчин домой.",
        participants=48_000,
    )
    for i in range(3):
        world.post("putdomoi", f"Пост {i}", views=100 + i)
    sim = WebPreviewSimulator(world)
    await sim.start()
    budget = HostBudget(rate=1000.0)
    async with aiohttp.ClientSession() as http:
        fetcher = Fetcher(http, sim.base_url, budget)
        collector = WebCollector(fetcher, sessions, CONFIG)
        yield Rig(world, sim, collector, sessions, budget)
    await sim.stop()


async def _watched(rig: Rig) -> int:
    channel, code = await rig.collector.watch("@putdomoi", added_by=1)
    assert code == "added" and channel is not None
    assert channel.tg_id == rig.world.channel("putdomoi").id  # learned from data-view
    # The watch took the first look (a quiet archive) before it answered.
    assert (await rig.channel(channel.id)).next_poll_at is not None
    assert await rig.events() == []
    return channel.id


async def test_scripted_scenario_gives_exactly_the_expected_events(rig: Rig) -> None:
    w, c = rig.world, rig.collector
    cid = await _watched(rig)
    n = 0

    async def step(expected: list[str], *, sweep: bool = False) -> list[Event]:
        nonlocal n
        await c.poll(cid)
        if sweep:
            await c.reconcile(cid)
        got = await rig.kinds_since(n)
        assert got == expected
        new = (await rig.events())[n:]
        n += len(got)
        return new

    first_posts = [p for p in w.channel("putdomoi").alive_posts() if not p.is_service]
    new_id = w.post("putdomoi", "Обращение к депутатам.")
    (ev,) = await step([kinds.POST_NEW])
    assert ev.payload["message_id"] == new_id and ev.payload["text"] == "Обращение к депутатам."

    w.edit("putdomoi", new_id, "Обращение к депутатам. Петиция закрыта.")
    (ev,) = await step([kinds.POST_EDITED])
    assert ev.payload["before"] == "Обращение к депутатам."
    assert ev.payload["after"] == "Обращение к депутатам. Петиция закрыта."

    victim = first_posts[1].id
    w.delete("putdomoi", [victim])
    await step([])  # a poll alone never decides a deletion
    (ev,) = await step([kinds.POST_DELETED], sweep=True)
    assert ev.payload["message_id"] == victim and ev.payload["text"] == first_posts[1].text

    # Downtime: 25 posts while nobody looked; the oldest are pushed off the first page.
    ids = [w.post("putdomoi", f"Новость {i}") for i in range(25)]
    got = await step([kinds.POST_NEW] * 25, sweep=True)
    assert sorted(e.payload["message_id"] for e in got) == ids
    async with rig.sessions() as s:
        gone = list(await s.scalars(select(Post.message_id).where(Post.deleted_at.is_not(None))))
    assert gone == [victim]
    assert any("before=" in r for r in rig.sim.requests)

    w.rename("putdomoi", "Путь домой — официальный")
    (ev,) = await step([kinds.RENAMED])
    assert ev.payload == {"before": "Путь домой", "after": "Путь домой — официальный"}

    w.set_label("putdomoi", verified=True)
    (ev,) = await step([kinds.LABEL_ADDED])
    assert ev.payload["label"] == "verified"

    rig.sim.withhold("putdomoi", WITHHELD)
    (ev,) = await step([kinds.PREVIEW_WITHHELD], sweep=True)  # and no deletions from it
    assert ev.payload == {"text": WITHHELD}
    await step([])
    rig.sim.restore("putdomoi")
    await step([kinds.PREVIEW_RESTORED])

    # "48K" -> "48.5K" reads as up to +2%, or no change at all: not a jump even at 1%.
    c.config = CollectorConfig(**{**CONFIG.__dict__, "jump_pct": 1.0})
    w.set_participants("putdomoi", 48_500)
    await step([])
    w.set_participants("putdomoi", 62_400)
    (ev,) = await step([kinds.SUBSCRIBERS_JUMP])
    assert ev.payload["approximate"] is True and ev.payload["change_pct"] >= 25

    w.set_username("putdomoi", None)
    (ev,) = await step([kinds.UNAVAILABLE])
    assert ev.payload["reason"] == "username_released"

    # Another channel takes the name: its posts are not ours, and ours stays unavailable.
    other = w.create_channel(username="putdomoi", title="Самозванец", participants=10)
    w.post(other, "Чужой пост")
    await step([])
    ch = await rig.channel(cid)
    assert not ch.reachable and ch.title == "Путь домой — официальный"
    async with rig.sessions() as s:
        texts = list(await s.scalars(select(Post.text)))
    assert "Чужой пост" not in texts


async def test_an_old_post_beyond_the_sweep_is_never_a_deletion(rig: Rig) -> None:
    cid = await _watched(rig)
    w = rig.world
    for i in range(130):  # more than the sweep reads back (5 pages of 20)
        w.post("putdomoi", f"Новость {i}")
    await rig.collector.poll(cid)
    await rig.collector.reconcile(cid)
    kinds_seen = await rig.kinds_since(0)
    assert kinds.POST_DELETED not in kinds_seen
    assert kinds_seen.count(kinds.POST_NEW) == 130
    embeds = [r for r in rig.sim.requests if "embed=1" in r]
    assert embeds == []  # nothing was missing from what was read, so nothing to confirm


async def test_a_pass_that_polls_and_sweeps_reads_the_first_page_once(rig: Rig) -> None:
    """The sweep starts from the page its poll read in the same pass, and still finds the
    deletion on it (as two jobs at once, each fetched the page)."""
    cid = await _watched(rig)
    w = rig.world
    victim = [p for p in w.channel("putdomoi").alive_posts() if not p.is_service][1].id
    w.delete("putdomoi", [victim])
    rig.collector._first_page.clear()  # minutes later: no page read a moment ago
    rig.sim.latency = 0.2  # as t.me's
    rig.sim.requests.clear()
    await asyncio.sleep(0.06)  # past the polling interval; CONFIG sweeps every pass
    await rig.collector.run_once()
    assert [r for r in rig.sim.requests if r.startswith("/s/")] == ["/s/putdomoi"]
    assert [r for r in rig.sim.requests if "embed=1" in r] == [f"/putdomoi/{victim}?embed=1"]
    (ev,) = await rig.events()
    assert ev.kind == kinds.POST_DELETED and ev.payload["message_id"] == victim
    assert (await rig.channel(cid)).next_poll_at is not None


@pytest.mark.parametrize(
    "fault",
    ["status:404", "truncated", "empty", "huge", "latin1", "redirect_loop", "garbage"],
)
async def test_bad_pages_are_a_log_line(
    rig: Rig, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    cid = await _watched(rig)
    rig.collector.fetcher.max_bytes = 1_000_000
    before = await rig.channel(cid)
    rig.world.delete("putdomoi", [rig.world.channel("putdomoi").top_message_id])
    rig.sim.fail_next(fault, times=10)
    with caplog.at_level(logging.WARNING):
        await rig.collector.poll(cid)
        await rig.collector.reconcile(cid)
    assert await rig.events() == []  # no false deletion, no false change
    after = await rig.channel(cid)
    assert (after.title, after.reachable, after.preview_withheld) == (
        before.title,
        before.reachable,
        before.preview_withheld,
    )
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("collectors")]
    assert lines and all("\n" not in line for line in lines)
    assert not any(r.exc_info for r in caplog.records)


async def test_backoff_on_429_and_5xx_then_success(rig: Rig) -> None:
    sleeps: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    budget = HostBudget(rate=0.5, clock=lambda: now[0], sleep=sleep)
    rig.collector.fetcher.budget = budget
    rig.sim.fail_next("status:503", 1)
    rig.sim.fail_next("retry_after:7", 1)
    page = await rig.collector.fetcher.page("putdomoi")
    assert page.kind == "posts"
    # The 2 s spacing doubles after the 503 (4 s) and again after the 429 (8 s > Retry-After 7).
    assert sleeps == [4.0, 8.0]
    await rig.collector.fetcher.page("putdomoi")  # the slot booked before the success
    await rig.collector.fetcher.page("putdomoi")
    assert sleeps[-1] == 2.0  # back to one request per 2 s
    rig.sim.fail_next("retry_after:20", 1)
    await rig.collector.fetcher.page("putdomoi")
    assert sleeps[-1] == 20.0  # a longer Retry-After is obeyed
    rig.sim.fail_next("status:500", 3)
    with pytest.raises(FetchError, match="HTTP 500"):
        await rig.collector.fetcher.page("putdomoi")


async def test_requests_name_chanwatch(rig: Rig) -> None:
    assert "chanwatch" in USER_AGENT
    seen: list[str] = []

    async def trace(_s: object, _ctx: object, params: aiohttp.TraceRequestStartParams) -> None:
        seen.append(params.headers.get("User-Agent", ""))

    config = aiohttp.TraceConfig()
    config.on_request_start.append(trace)
    async with aiohttp.ClientSession(trace_configs=[config]) as http:
        await Fetcher(http, rig.sim.base_url, HostBudget(100.0)).page("putdomoi")
    assert seen == [USER_AGENT]


async def test_watch_answers_for_missing_and_withheld_names(rig: Rig) -> None:
    assert (await rig.collector.watch("@nobody_here", 1))[1] == "not_found"
    rig.sim.withhold("putdomoi")
    assert (await rig.collector.watch("@putdomoi", 1))[1] == "no_posts"
    assert (await rig.collector.watch("-1001234567", 1))[1] == "unknown_id"


REAL = Path("/work/shared/fixtures/tme/durov.html")


def test_simulated_page_parses_like_the_real_one() -> None:
    """The real page is the ground truth: a simulated channel with the same content parses
    to the same observations (plain-text posts: the world has no entities)."""
    real = parse_page(REAL.read_text(encoding="utf-8"))
    world = World(service_messages=False)
    ch = world.create_channel(
        username="durov",
        title="Pavel Durov",
        about="Founder of Telegram.",
        participants=10_120_000,
        verified=True,
        channel_id=1006503122,
    )
    # 496 and 497 are plain text; 498 has a photo. Same ids, dates, views, edit marks.
    chosen = [p for p in real.posts if p.message_id in (496, 497, 498)]
    ch.next_message_id = 496
    for p in chosen:
        mid = world.post(
            ch, p.text, media="photo" if p.media_kind else None, date=p.date, views=p.views or 0
        )
        if p.edited:
            world.edit(ch, mid, p.text, date=p.date)
    sim = parse_page(render_channel(ch))
    assert sim.channel_id == real.channel_id
    for field in ("title", "username", "about", "verified", "participants", "participants_max"):
        assert getattr(sim.header, field) == getattr(real.header, field), field
    fields = ("message_id", "date", "text", "media_kind", "views", "edited", "forward", "reply_to")
    want = [tuple(getattr(p, f) for f in fields) for p in chosen]
    got = [tuple(getattr(p, f) for f in fields) for p in sim.posts]
    assert got == want
    assert [p.entities for p in sim.posts] == [() for _ in chosen]
    assert abbreviate(10_120_000) == "10.1M" and abbreviate(21_712) == "21.7K"
    assert abbreviate(279_400) == "279K" and abbreviate(93) == "93"


async def test_watch_request_from_the_bot_is_answered_by_the_web_collector(rig: Rig) -> None:
    async with rig.sessions() as s:
        s.add(WatchRequest(handle="@putdomoi", requested_by=7))
        s.add(WatchRequest(handle="@nobody_here", requested_by=7))
        await s.commit()
    await rig.collector.run_once()
    async with rig.sessions() as s:
        done = {r.handle: (r.status, r.result_code) for r in await s.scalars(select(WatchRequest))}
        ch = await s.scalar(select(Channel))
    assert done == {"@putdomoi": ("done", "added"), "@nobody_here": ("failed", "not_found")}
    assert ch is not None and ch.tg_id == rig.world.channel("putdomoi").id
    assert ch.last_refreshed_at is not None  # the same pass took its first look


async def test_beside_the_account_web_values_never_replace_api_ones(sessions: SessionMaker) -> None:
    """COLLECTOR=both: the API's exact count and photo stay; a change both see is one event."""
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    async def add(s: AsyncSession) -> int:
        ch, _ = await channels.add_or_rewatch(
            s,
            tg_id=555,
            access_hash=1,
            username="putdomoi",
            title="Путь домой",
            handle="x",
            added_by=None,
        )
        return ch.id

    cid = await transaction(sessions, add)
    api = ChannelSeen(
        tg_id=555,
        observed_at=now,
        title="Путь домой",
        username="putdomoi",
        username_known=True,
        about="a",
        photo_id=777,
        participants=48_213,
        fake=False,
        scam=False,
        verified=False,
        restricted=False,
        restrictions=(),
    )
    await transaction(sessions, lambda s: changes.observe_channel(s, cid, api))
    web = ChannelSeen(
        tg_id=555,
        observed_at=now + timedelta(minutes=1),
        title="Путь домой",
        username="putdomoi",
        username_known=True,
        about="a",
        photo_id=123456,
        participants=48_150,
        participants_max=48_299,
        verified=False,
        source="web",
    )
    rec = await transaction(sessions, lambda s: changes.observe_channel(s, cid, web))
    assert rec.event_ids == []
    async with sessions() as s:
        ch = await s.get(Channel, cid)
        assert ch is not None
        assert (ch.participants, ch.participants_max, ch.photo_id) == (48_213, None, 777)
        assert not ch.is_fake
    # A rename seen by the account and then by the preview: one event.
    renamed_api = dataclasses.replace(api, title="Новое имя", observed_at=now + timedelta(hours=1))
    renamed_web = dataclasses.replace(web, title="Новое имя", observed_at=now + timedelta(hours=1))
    first = await transaction(sessions, lambda s: changes.observe_channel(s, cid, renamed_api))
    second = await transaction(sessions, lambda s: changes.observe_channel(s, cid, renamed_web))
    assert len(first.event_ids) == 1 and second.event_ids == []
    async with sessions() as s:
        assert [e.kind for e in await s.scalars(select(Event))] == [kinds.RENAMED]


def test_channels_add_with_only_a_bot_token(tmp_path: Path) -> None:
    """`chanwatch channels add @name` through the web preview: no Telegram account."""
    import asyncio
    import subprocess

    from tests.clikit import chanwatch

    async def scenario() -> subprocess.CompletedProcess[str]:
        world = World()
        world.create_channel(username="putdomoi", title="Путь домой", participants=48_000)
        world.post("putdomoi", "Пост")
        sim = WebPreviewSimulator(world)
        await sim.start()
        try:
            env = {"BOT_TOKEN": "1:x", "WEB_PREVIEW_BASE_URL": sim.base_url}
            return await asyncio.to_thread(
                chanwatch, "channels", "add", "@putdomoi", cwd=tmp_path, env=env
            )
        finally:
            await sim.stop()

    result = asyncio.run(scenario())
    assert result.returncode == 0, result.stderr
    assert "now watching Путь домой" in result.stdout
    listed = chanwatch("channels", "list", cwd=tmp_path, env={"BOT_TOKEN": "1:x"})
    assert "@putdomoi" in listed.stdout
    missing = chanwatch(
        "channels",
        "add",
        "@putdomoi",
        cwd=tmp_path,
        env={"BOT_TOKEN": "1:x", "WEB_PREVIEW_BASE_URL": "http://127.0.0.1:9"},
    )
    # Already watched: answered from the database without a request.
    assert missing.returncode == 0 and "already watching" in missing.stdout
    refused = chanwatch(
        "channels",
        "add",
        "@other_name",
        cwd=tmp_path,
        env={
            "BOT_TOKEN": "1:x",
            "WEB_PREVIEW_BASE_URL": "http://127.0.0.1:9",
            "WEB_PREVIEW_RATE": "100",
        },
    )
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last == "chanwatch: cannot watch '@other_name': unreachable"
    assert "Traceback" not in refused.stderr


async def test_beside_the_account_the_preview_adds_only_its_own_news(rig: Rig) -> None:
    """COLLECTOR=both while the account is fine: withheld/restored only, schedule untouched."""
    cid = await _watched(rig)
    before = await rig.channel(cid)

    async def nothing(_s: AsyncSession, _ids: list[int]) -> set[int]:
        return set()  # the account reads every channel

    rig.collector._covers = nothing
    rig.world.post("putdomoi", "Новый пост")
    rig.world.rename("putdomoi", "Другое имя")
    rig.sim.withhold("putdomoi", WITHHELD)
    await rig.collector.run_once()
    assert await rig.kinds_since(0) == [kinds.PREVIEW_WITHHELD]
    await rig.collector.run_once()  # not looked at again before the refresh period
    # watch, the first look, this pass's look; none in the second pass.
    assert rig.sim.requests.count("/s/putdomoi") == 3
    after = await rig.channel(cid)
    # The account's poll schedule and cursor are the account's.
    assert (after.next_poll_at, after.last_message_id, after.title) == (
        before.next_poll_at,
        before.last_message_id,
        before.title,
    )


async def test_a_channel_without_posts_is_watched_by_name_until_its_first_post(
    sessions: SessionMaker,
) -> None:
    """A new channel shows its header and no message: watched under its name; the first
    post shows the id, and the same row takes it (no second channel)."""
    world = World(service_messages=False)
    world.create_channel(username="fresh", title="Новый канал", participants=12)
    sim = WebPreviewSimulator(world)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            c = WebCollector(Fetcher(http, sim.base_url, HostBudget(1000.0)), sessions, CONFIG)
            channel, code = await c.watch("@fresh", added_by=1)
            assert code == "added" and channel is not None
            assert channels.is_pending(channel.tg_id) and channel.title == "Новый канал"
            assert (await c.watch("https://t.me/Fresh", added_by=1))[1] == "already"
            await c.poll(channel.id)
            first = world.post("fresh", "Первый пост")
            await c.poll(channel.id)
            async with sessions() as s:
                rows = list(await s.scalars(select(Channel)))
                got = [
                    (e.kind, e.payload.get("message_id")) for e in await s.scalars(select(Event))
                ]
            assert [(r.id, r.tg_id) for r in rows] == [(channel.id, world.channel("fresh").id)]
            assert got == [(kinds.POST_NEW, first)]
            problems, _ = await _check_log(sessions)
            assert problems == []
    finally:
        await sim.stop()


async def _check_log(sessions: SessionMaker) -> tuple[list[str], int]:
    async with sessions() as s:
        return await ledger.check_db(s)


async def test_a_new_channel_shows_its_id_in_the_channel_created_message(rig: Rig) -> None:
    ch = rig.world.create_channel(username="brandnew", title="Brand new")  # "Channel created"
    channel, code = await rig.collector.watch("@brandnew", added_by=1)
    assert code == "added" and channel is not None and channel.tg_id == ch.id


async def test_a_name_taken_before_the_first_post_is_told_apart(sessions: SessionMaker) -> None:
    """Watched by name, empty; then a channel already known under another name takes the
    name: ours gave it up, and the known one gets no second row."""
    world = World(service_messages=False)
    world.create_channel(username="empty_one", title="Пустой")
    known = world.create_channel(username="known_one", title="Известный")
    world.post(known, "пост")
    sim = WebPreviewSimulator(world)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as http:
            c = WebCollector(Fetcher(http, sim.base_url, HostBudget(1000.0)), sessions, CONFIG)
            empty, _ = await c.watch("@empty_one", added_by=1)
            other, _ = await c.watch("@known_one", added_by=1)
            assert empty is not None and other is not None
            await c.poll(empty.id)
            world.set_username("empty_one", None)
            world.set_username(known, "empty_one")
            await c.poll(empty.id)
            async with sessions() as s:
                rows = {r.id: r for r in await s.scalars(select(Channel))}
                events = list(await s.scalars(select(Event)))
            assert len(rows) == 2 and rows[other.id].tg_id == known.id
            assert not rows[empty.id].reachable
            assert [(e.kind, e.channel_id) for e in events] == [(kinds.UNAVAILABLE, empty.id)]
            assert events[0].payload["detail"] == f"@empty_one now belongs to channel {known.id}"
    finally:
        await sim.stop()


def test_channels_add_of_a_channel_without_posts(tmp_path: Path) -> None:
    """`chanwatch channels add @name` (COLLECTOR=web) for a channel that has posted nothing."""
    import asyncio
    import subprocess

    from tests.clikit import chanwatch

    async def scenario() -> subprocess.CompletedProcess[str]:
        world = World(service_messages=False)
        world.create_channel(username="quiet", title="Тихий канал")
        sim = WebPreviewSimulator(world)
        await sim.start()
        try:
            env = {"BOT_TOKEN": "1:x", "WEB_PREVIEW_BASE_URL": sim.base_url}
            return await asyncio.to_thread(
                chanwatch, "channels", "add", "@quiet", cwd=tmp_path, env=env
            )
        finally:
            await sim.stop()

    result = asyncio.run(scenario())
    assert result.returncode == 0, result.stderr
    assert "now watching Тихий канал" in result.stdout
    listed = chanwatch("channels", "list", cwd=tmp_path, env={"BOT_TOKEN": "1:x"})
    assert "@quiet" in listed.stdout and "Тихий канал" in listed.stdout
