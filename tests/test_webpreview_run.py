"""`chanwatch run` with only a bot token: the web preview collects, /watch works."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from simulator.botapi import BotAPISimulator
from simulator.mtproto import World, WorldServer
from simulator.webpreview import WebPreviewSimulator
from storage import kinds
from storage.db import SessionMaker
from storage.models import Event
from tests.scenario import MODERATOR, Cluster

SUBSCRIBER = 2001


async def test_run_with_only_a_bot_token(
    db_url: str, sessions: SessionMaker, tmp_path: Path
) -> None:
    world = World()
    world.create_channel(username="putdomoi", title="Путь домой", participants=40_000)
    world.post("putdomoi", "архив")
    web = WebPreviewSimulator(world)
    await web.start()
    # The MTProto face is there but unused: no account is configured.
    server = await WorldServer(world).start()
    sim = BotAPISimulator()
    await sim.start()
    c = Cluster(
        world,
        server,
        sim,
        db_url,
        tmp_path,
        sessions,
        extra_env={
            "MTPROTO_SIMULATOR": "",
            "WEB_PREVIEW_BASE_URL": web.base_url,
            "WEB_PREVIEW_RATE": "50",
        },
    )
    try:
        c.start()
        await c.polling()
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
    finally:
        c.stop()
        await sim.stop()
        await server.close()
        await web.stop()
