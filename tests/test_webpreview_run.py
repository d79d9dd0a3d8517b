"""`chanwatch run` with only a bot token (the web preview collects, /watch works), and with
COLLECTOR=both (the account and the web preview split the channels)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from collectors.webpreview.collector import PAGE
from simulator.botapi import BotAPISimulator
from simulator.mtproto import World, WorldServer
from simulator.webpreview import WebPreviewSimulator
from storage import kinds, ledger
from storage.db import SessionMaker
from storage.models import Channel, Event, LogRecord
from tests.scenario import MODERATOR, Cluster

SUBSCRIBER = 2001


@asynccontextmanager
async def cluster(
    world: World, db_url: str, sessions: SessionMaker, tmp_path: Path, env: dict[str, str]
) -> AsyncIterator[tuple[Cluster, WebPreviewSimulator]]:
    """`chanwatch run` in a subprocess against the world's MTProto, Bot API and t.me faces."""
    web = WebPreviewSimulator(world)
    await web.start()
    server = await WorldServer(world).start()
    sim = BotAPISimulator()
    await sim.start()
    extra = {"WEB_PREVIEW_BASE_URL": web.base_url, "WEB_PREVIEW_RATE": "50", **env}
    c = Cluster(world, server, sim, db_url, tmp_path, sessions, extra_env=extra)
    try:
        c.start()
        await c.polling()
        yield c, web
    finally:
        c.stop()
        await sim.stop()
        await server.close()
        await web.stop()


async def test_run_with_only_a_bot_token(
    db_url: str, sessions: SessionMaker, tmp_path: Path
) -> None:
    world = World()
    world.create_channel(username="putdomoi", title="Путь домой", participants=40_000)
    world.post("putdomoi", "архив")
    # The MTProto face is there but unused: no account is configured.
    env = {"MTPROTO_SIMULATOR": ""}
    async with cluster(world, db_url, sessions, tmp_path, env) as (c, web):
        c.sim.user_sends(MODERATOR, "/watch @putdomoi")
        await c.replies(MODERATOR, 2, "the watch outcome")
        assert "Now watching" in (c.sim.received(MODERATOR)[-1].text or "")
        c.sim.user_sends(SUBSCRIBER, "/start", language_code="en")
        c.sim.user_sends(SUBSCRIBER, "/subscribe @putdomoi", language_code="en")
        await c.replies(SUBSCRIBER, 2, "the subscription")
        await c.until("the first look", lambda: any("/s/putdomoi" in r for r in web.requests[1:]))
        world.post("putdomoi", "Новый пост через веб-просмотр")
        await c.replies(SUBSCRIBER, 1, "the new post's alert")
        assert "Новый пост через веб-просмотр" in (c.sim.received(SUBSCRIBER)[-1].text or "")
        web.withhold("putdomoi", "This channel can’t be displayed because it violated local laws.")
        await c.replies(SUBSCRIBER, 1, "the withheld alert")
        assert "web preview" in (c.sim.received(SUBSCRIBER)[-1].text or "")
        async with sessions() as s:
            counts = dict(
                (await s.execute(select(Event.kind, func.count()).group_by(Event.kind))).all()
            )
        assert counts == {kinds.POST_NEW: 1, kinds.PREVIEW_WITHHELD: 1}
        assert "collectors: web" in c.logs()


async def test_run_with_both_collectors(
    db_url: str, sessions: SessionMaker, tmp_path: Path
) -> None:
    world = World(service_messages=False)
    for name in ("alpha_ch", "beta_ch"):
        world.create_channel(username=name, title=name.title(), participants=9_000)
        world.post(name, f"{name}: архив")
    env = {"COLLECTOR": "both", "JOIN_CAP": "1", "ACCOUNT_POLL_CAP": "0"}

    async def rows() -> list[Channel]:
        async with sessions() as s:
            return list(await s.scalars(select(Channel).order_by(Channel.id)))

    async def first_looks() -> bool:
        got = await rows()
        # JOIN_CAP=1: one is the account's (joined), the other the preview's (looked at).
        return (
            len(got) == 2
            and sorted(c.joined for c in got) == [False, True]
            and all(c.next_poll_at is not None for c in got)
        )

    async with cluster(world, db_url, sessions, tmp_path, env) as (c, _web):
        c.sim.user_sends(MODERATOR, "/watch @alpha_ch")
        c.sim.user_sends(MODERATOR, "/watch @beta_ch")
        await c.replies(MODERATOR, 4, "both watch outcomes")  # "Looking up…", "Now watching"
        c.sim.user_sends(SUBSCRIBER, "/start", language_code="en")
        c.sim.user_sends(SUBSCRIBER, "/subscribe @alpha_ch", language_code="en")
        c.sim.user_sends(SUBSCRIBER, "/subscribe @beta_ch", language_code="en")
        await c.replies(SUBSCRIBER, 3, "the subscriptions")
        await c.until("one joined, the other looked at", first_looks)
        joined, beyond = sorted(await rows(), key=lambda c: not c.joined)
        assert joined.username and beyond.username
        new = world.post(beyond.username, "beyond the account's budget")
        await c.replies(SUBSCRIBER, 1, "the new post beyond the budget")
        assert "beyond the account" in (c.sim.received(SUBSCRIBER)[-1].text or "")
        (account,) = world.accounts  # the one account chanwatch signed in as
        world.ban(joined.username, account)  # that account only; the public page still shows it
        await c.until(
            "the account's loss noted", lambda: f"cannot read @{joined.username}" in c.logs()
        )
        world.post(joined.username, "after the account's ban")
        await c.replies(SUBSCRIBER, 1, "the new post after the ban")
        assert "after the account" in (c.sim.received(SUBSCRIBER)[-1].text or "")
        async with sessions() as s:
            counts = dict(
                (await s.execute(select(Event.kind, func.count()).group_by(Event.kind))).all()
            )
            sources = set(
                await s.scalars(
                    select(LogRecord.source).where(
                        LogRecord.subject == f"post:{beyond.tg_id}:{new}", LogRecord.type == "post"
                    )
                )
            )
        # No "unavailable": the account's ban is the account's, not the channel's.
        assert counts == {kinds.POST_NEW: 2}
        assert sources == {ledger.source_of("web", PAGE)}
