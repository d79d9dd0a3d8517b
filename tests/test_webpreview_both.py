"""COLLECTOR=both: the account (Telethon against the simulated world) and the web preview
(over HTTP against the same world) split the channels by storage.coverage.web_covers."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telethon import TelegramClient

from chanwatch.telegram import CLIENT_OPTIONS
from collectors.base import CollectorConfig
from collectors.collector import Collector
from collectors.webpreview.collector import PAGE, WebCollector
from collectors.webpreview.fetch import Fetcher, HostBudget
from simulator.mtproto import World, make_simulated_client
from simulator.webpreview import WebPreviewSimulator
from storage import changes, channels, coverage, kinds, ledger
from storage.db import SessionMaker, transaction
from storage.models import Channel, ChannelSnapshot, Event, LogRecord, Post
from storage.observations import ChannelSeen, MetricsSeen, PostSeen
from tests.support import watched_channel

ACCOUNT = "main"  # the simulated world's default account
CONFIG = CollectorConfig(
    join_cap=1,
    poll_min=0.01,
    poll_max=0.05,
    refresh_every=0.2,
    reconcile_every=3600,
    backfill=20,
    tick=0.05,
)


@dataclass
class Both:
    world: World
    client: TelegramClient
    account: Collector
    web: WebCollector
    sim: WebPreviewSimulator
    sessions: SessionMaker

    async def passes(self, n: int = 1) -> None:
        for _ in range(n):
            await asyncio.sleep(0.06)  # past the polling interval: every poll is due again
            await self.account.run_once()
            await self.web.run_once()

    async def until(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + 10
        while not await check():
            assert time.monotonic() < deadline, what
            await self.passes()

    async def n_events(self, n: int) -> bool:
        return len(await self.events()) >= n

    async def events(self) -> list[tuple[str, str | None]]:
        async with self.sessions() as s:
            rows = await s.execute(
                select(Event.kind, Channel.username)
                .join(Channel, Channel.id == Event.channel_id)
                .order_by(Event.id)
            )
            return [(k, u) for k, u in rows.all()]

    async def channel(self, name: str) -> Channel:
        async with self.sessions() as s:
            ch = await channels.find(s, name)
            assert ch is not None
            return ch

    async def post_sources(self, name: str, message_id: int) -> set[str]:
        ch = await self.channel(name)
        async with self.sessions() as s:
            rows = await s.scalars(
                select(LogRecord.source).where(
                    LogRecord.channel_id == ch.id,
                    LogRecord.type == "post",
                    LogRecord.subject == f"post:{ch.tg_id}:{message_id}",
                )
            )
            return set(rows)

    async def covered(self) -> set[str]:
        async with self.sessions() as s:
            watched = list(await channels.watched(s))
            ids = await coverage.web_covers(s, [c.id for c in watched], account=ACCOUNT, poll_cap=0)
        return {c.username or "" for c in watched if c.id in ids}


@pytest_asyncio.fixture
async def both(sessions: SessionMaker) -> AsyncIterator[Both]:
    world = World(service_messages=False)
    for name in ("alpha_ch", "beta_ch", "gamma_ch"):
        world.create_channel(username=name, title=name.title(), participants=5_000)
        world.post(name, f"{name}: старый пост")
    sim = WebPreviewSimulator(world)
    await sim.start()
    client = make_simulated_client(world, **CLIENT_OPTIONS)  # type: ignore[arg-type]
    covers = functools.partial(coverage.web_covers, account=ACCOUNT, poll_cap=0)
    account = Collector(client, sessions, CONFIG, account=ACCOUNT, web_covers=covers)
    account.attach()
    await client.connect()
    async with aiohttp.ClientSession() as http:
        fetcher = Fetcher(http, sim.base_url, HostBudget(rate=1000.0))
        web = WebCollector(fetcher, sessions, CONFIG, covers=covers, answers_requests=lambda: False)
        yield Both(world, client, account, web, sim, sessions)
    await account.stop()
    await client.disconnect()
    await sim.stop()


async def _is(value: Awaitable[set[str]], expected: set[str]) -> bool:
    return await value == expected


async def _watch_all(b: Both, names: tuple[str, ...]) -> None:
    for name in names:
        channel, code = await b.account.watch(f"@{name}", added_by=1)
        assert code == "added" and channel is not None
    await b.passes(3)  # first refreshes, quiet backfills, joins up to the cap
    assert await b.events() == []


async def test_beyond_the_join_cap_and_poll_budget_the_preview_collects(both: Both) -> None:
    b, w = both, both.world
    await _watch_all(b, ("alpha_ch", "beta_ch"))
    alpha, beta = await b.channel("alpha_ch"), await b.channel("beta_ch")
    assert alpha.joined and not beta.joined  # JOIN_CAP=1; ACCOUNT_POLL_CAP=0
    assert await b.covered() == {"beta_ch"}
    new = w.post("beta_ch", "beta: новый пост")
    await b.until("beta's new post", lambda: b.n_events(1))
    w.edit("beta_ch", new, "beta: новый пост, исправленный")
    await b.until("beta's edit", lambda: b.n_events(2))
    live = w.post("alpha_ch", "alpha: новый пост")
    await b.until("alpha's new post", lambda: b.n_events(3))
    await b.passes(2)
    assert await b.events() == [
        (kinds.POST_NEW, "beta_ch"),
        (kinds.POST_EDITED, "beta_ch"),
        (kinds.POST_NEW, "alpha_ch"),
    ]
    # Beta is the preview's alone; alpha is the account's.
    web_source = ledger.source_of("web", PAGE)
    assert await b.post_sources("beta_ch", new) == {web_source}
    assert web_source not in await b.post_sources("alpha_ch", live)
    async with b.sessions() as s:
        post = await s.scalar(
            select(Post).where(Post.channel_id == beta.id, Post.message_id == new)
        )
        assert post is not None and post.text == "beta: новый пост, исправленный"


async def test_a_channel_banned_for_the_account_is_read_from_the_preview(both: Both) -> None:
    b, w = both, both.world
    await _watch_all(b, ("gamma_ch",))
    assert (await b.channel("gamma_ch")).joined and await b.covered() == set()
    w.ban("gamma_ch", ACCOUNT)  # the account only: the public page still shows the channel
    await b.until("the account's loss", lambda: _is(b.covered(), {"gamma_ch"}))
    assert await b.covered() == {"gamma_ch"}
    new = w.post("gamma_ch", "gamma: пост после бана")
    await b.until("the new post", lambda: b.n_events(1))
    w.edit("gamma_ch", new, "gamma: пост после бана, исправленный")
    await b.until("the edit", lambda: b.n_events(2))
    await b.passes(2)
    # The account losing access is not "Telegram blocked the channel": the public sees it.
    assert await b.events() == [(kinds.POST_NEW, "gamma_ch"), (kinds.POST_EDITED, "gamma_ch")]
    gamma = await b.channel("gamma_ch")
    assert gamma.reachable
    async with b.sessions() as s:
        assert await coverage.lost_by(s, ACCOUNT) == {gamma.id: "banned"}
    w.restore("gamma_ch")
    # The account tries the channel again after its refresh period, and reads it.
    await b.until("the account takes it back", lambda: _is(b.covered(), set()))
    async with b.sessions() as s:
        assert await coverage.lost_by(s, ACCOUNT) == {}
    assert len(await b.events()) == 2


async def test_a_channel_gone_for_everyone_is_still_news(both: Both) -> None:
    """Deleted: the account is refused and the preview says "Contact @name": one event."""
    b, w = both, both.world
    await _watch_all(b, ("gamma_ch",))
    w.delete_channel("gamma_ch")
    await b.until("the channel gone", lambda: b.n_events(1))
    await b.passes(2)
    assert await b.events() == [(kinds.UNAVAILABLE, "gamma_ch")]


async def _api_and_web(sessions: SessionMaker) -> tuple[int, ChannelSeen, ChannelSeen]:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    cid = await watched_channel(sessions, 555, "putdomoi")
    api = ChannelSeen(
        tg_id=555, observed_at=now, title="Путь домой", username="PutDomoi",
        username_known=True, about="Движение жён и матерей.\n", participants=48_000,
        fake=False, scam=False, verified=False, restricted=False, restrictions=(),
    )  # fmt: skip
    web = ChannelSeen(
        tg_id=555, observed_at=now + timedelta(minutes=5), title="Путь домой",
        username="putdomoi", username_known=True, about="Движение жён и матерей.",
        participants=47_950, participants_max=48_099, verified=False, source="web",
    )  # fmt: skip
    await transaction(sessions, lambda s: changes.observe_channel(s, cid, api))
    return cid, api, web


async def test_web_readings_never_replace_what_the_api_gave(sessions: SessionMaker) -> None:
    cid, _, web = await _api_and_web(sessions)
    rec = await transaction(sessions, lambda s: changes.observe_channel(s, cid, web))
    assert rec.event_ids == []
    async with sessions() as s:
        ch = await s.get(Channel, cid)
        assert ch is not None
        assert (ch.participants, ch.participants_max) == (48_000, None)
        assert (ch.username, ch.about) == ("PutDomoi", "Движение жён и матерей.\n")

    # A post's views: the account's exact count stays when the preview shows "1.2K".
    date = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    exact = PostSeen(message_id=7, date=date, text="Пост", views=1_187)
    shown = PostSeen(message_id=7, date=date, text="Пост", views=1_200, partial=True)
    await transaction(sessions, lambda s: changes.observe_posts(s, cid, [exact]))
    again = await transaction(sessions, lambda s: changes.observe_posts(s, cid, [shown]))
    assert again.event_ids == []
    async with sessions() as s:
        post = await s.scalar(select(Post).where(Post.channel_id == cid))
        assert post is not None and post.views == 1_187
    # Later counts come from the account again.
    await transaction(
        sessions,
        lambda s: changes.observe_metrics(s, cid, [MetricsSeen(message_id=7, views=1_250)]),
    )
    await transaction(sessions, lambda s: changes.observe_posts(s, cid, [shown]))
    async with sessions() as s:
        post = await s.scalar(select(Post).where(Post.channel_id == cid))
        assert post is not None and post.views == 1_250


async def test_subscriber_jump_seen_by_the_preview_counts_only_what_rounding_allows(
    sessions: SessionMaker,
) -> None:
    cid, api, web = await _api_and_web(sessions)

    async def seen(obs: ChannelSeen) -> list[str]:
        rec = await transaction(
            sessions, lambda s: changes.observe_channel(s, cid, obs, jump_pct=10.0)
        )
        async with sessions() as s:
            return [(await s.get(Event, i)).kind for i in rec.event_ids]  # type: ignore[union-attr]

    later = web.observed_at + timedelta(hours=1)
    # "52.8K" reads as 52,750..52,899: +9.9 % at the least, not a 10 % jump (52,800 would be).
    assert await seen(dataclasses.replace(
        web, observed_at=later, participants=52_750, participants_max=52_899
    )) == []  # fmt: skip
    # "53.1K" is 53,050..53,199: +10.5 % at the least.
    assert await seen(dataclasses.replace(
        web, observed_at=later + timedelta(hours=1), participants=53_050, participants_max=53_199
    )) == [kinds.SUBSCRIBERS_JUMP]  # fmt: skip
    # The account then reads the exact count inside that range: the same jump, no second event.
    assert await seen(dataclasses.replace(
        api, observed_at=later + timedelta(hours=2), participants=53_120
    )) == []  # fmt: skip
    async with sessions() as s:
        ch = await s.get(Channel, cid)
        assert ch is not None and (ch.participants, ch.participants_max) == (53_120, None)
        jump = await s.scalar(select(Event).where(Event.kind == kinds.SUBSCRIBERS_JUMP))
        assert jump is not None
        assert (jump.payload["before"], jump.payload["after"]) == (48_000, 53_050)
        assert jump.payload["approximate"] is True
        assert await s.scalar(select(ChannelSnapshot).limit(1)) is not None


async def test_the_accounts_first_look_sets_labels_even_after_the_preview(
    sessions: SessionMaker,
) -> None:
    """The preview looked first (the account was flood-waited): FAKE it then reads is the
    channel's state, not news; a later change is."""
    cid, api, web = await _api_and_web_channel_only(sessions)
    await transaction(sessions, lambda s: changes.observe_channel(s, cid, web))
    fake = dataclasses.replace(api, fake=True, observed_at=web.observed_at + timedelta(hours=1))
    first = await transaction(sessions, lambda s: changes.observe_channel(s, cid, fake))
    assert first.event_ids == []
    cleared = dataclasses.replace(
        fake, fake=False, observed_at=fake.observed_at + timedelta(hours=1)
    )
    second = await transaction(sessions, lambda s: changes.observe_channel(s, cid, cleared))
    async with sessions() as s:
        assert [(await s.get(Event, i)).payload["label"] for i in second.event_ids] == ["fake"]  # type: ignore[union-attr]


async def _api_and_web_channel_only(
    sessions: SessionMaker,
) -> tuple[int, ChannelSeen, ChannelSeen]:
    cid = await watched_channel(sessions, 556, "fakeish")
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    api = ChannelSeen(
        tg_id=556, observed_at=now, title="Путь домой", username="fakeish", username_known=True,
        about="", fake=False, scam=False, verified=False, restricted=False, restrictions=(),
    )  # fmt: skip
    web = ChannelSeen(
        tg_id=556, observed_at=now, title="Путь домой", username="fakeish", username_known=True,
        about="", participants=900, verified=False, source="web",
    )  # fmt: skip
    return cid, api, web


async def test_a_flood_wait_the_account_reported_hands_every_channel_to_the_preview(
    sessions: SessionMaker,
) -> None:
    cid, _, _ = await _api_and_web_channel_only(sessions)
    now = datetime.now(UTC)
    # The account's collector reports the wait, as it does after every pass.
    client = make_simulated_client(World(), **CLIENT_OPTIONS)  # type: ignore[arg-type]
    account = Collector(client, sessions, CONFIG, account=ACCOUNT)
    account.gate.block("GetHistoryRequest", 30)
    await account._report()
    async with sessions() as s:
        assert await coverage.web_covers(s, [cid], account=ACCOUNT, now=now) == {cid}
        later = now + timedelta(seconds=31)
        assert await coverage.web_covers(s, [cid], account=ACCOUNT, now=later) == set()


async def test_over_the_poll_budget_only_named_channels_go_to_the_preview(
    sessions: SessionMaker,
) -> None:
    first = await watched_channel(sessions, 601, "first_one")
    second = await watched_channel(sessions, 602, "second_one")
    unnamed = await watched_channel(sessions, 603, "third_one")

    async def drop_name(s: AsyncSession) -> None:
        ch = await s.get(Channel, unnamed)
        assert ch is not None
        ch.username = None  # private now: no t.me page to read

    await transaction(sessions, drop_name)
    async with sessions() as s:
        ids = [first, second, unnamed]
        assert await coverage.web_covers(s, ids, account=ACCOUNT, poll_cap=1) == {second}
        assert await coverage.web_covers(s, ids, account=ACCOUNT, poll_cap=None) == set()
