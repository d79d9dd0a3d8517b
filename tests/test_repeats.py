"""Repeated requests cost once: identical pending /watch requests are one request, a name
that failed to resolve is not resolved again at once (counted at the simulated MTProto
world, through Telethon), and a confirmation pressed twice acts once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from sqlalchemy import func, select

from collectors.collector import Collector
from simulator.mtproto import World
from storage.db import SessionMaker
from storage.models import WatchRequest
from tests import botkit
from tests.botkit import MOD, BotEnv, FakeDigests, buttons
from tests.support import connected

make_env, env, quick_watch = botkit.make_env, botkit.env, botkit.quick_watch


@pytest_asyncio.fixture
async def world_collector(sessions: SessionMaker) -> AsyncIterator[tuple[World, Collector]]:
    world = World(service_messages=False)
    world.create_channel(username="putdomoi", title="Путь домой", about="", participants=10)
    client, collector = await connected(world, sessions)
    yield world, collector
    await collector.stop()
    await client.disconnect()


async def pending_requests(sessions: SessionMaker) -> int:
    async with sessions() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(WatchRequest)
                .where(WatchRequest.status == "pending")
            )
            or 0
        )


async def until_replies(env: BotEnv, chat: int, count: int, timeout: float = 10) -> None:
    async def wait() -> None:
        while len(env.received(chat)) < count:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def test_identical_pending_watch_requests_are_merged(
    env: BotEnv, world_collector: tuple[World, Collector]
) -> None:
    world, collector = world_collector
    for text in ("/watch @putdomoi", "/watch @PutDomoi", "/watch https://t.me/putdomoi"):
        env.sim.user_sends(MOD, text)
    await until_replies(env, MOD, 3)  # three "asked the collector" replies
    assert await pending_requests(env.sessions) == 1
    await collector.process_watch_requests()
    await until_replies(env, MOD, 6)
    outcomes = [m.text for m in env.received(MOD)[3:]]
    assert all("Путь домой" in (t or "") for t in outcomes), outcomes
    assert world.count_requests("ResolveUsernameRequest") == 1


async def test_unresolvable_name_is_resolved_once(
    env: BotEnv, world_collector: tuple[World, Collector]
) -> None:
    world, collector = world_collector
    for attempt in range(3):
        before = len(env.received(MOD))
        env.sim.user_sends(MOD, "/watch @nosuchchannel")
        await until_replies(env, MOD, before + 1)
        await collector.process_watch_requests()
        await until_replies(env, MOD, before + 2)
        assert "nosuchchannel" in (env.received(MOD)[-1].text or ""), attempt
    assert world.count_requests("ResolveUsernameRequest") == 1
    assert await pending_requests(env.sessions) == 0


async def test_double_pressed_confirmation_acts_once(make_env: Callable[..., Any]) -> None:
    digests = FakeDigests(run_count=2)
    env = await make_env(digests=digests)
    [confirm] = await env.say(MOD, "/digest_run", replies=1)
    yes = buttons(confirm)[env.tr("en", "kb-digest-run-yes")]
    # Both presses are queued before the bot handles either (a quick double tap).
    first = env.sim.user_presses(MOD, confirm.message_id, yes)
    second = env.sim.user_presses(MOD, confirm.message_id, yes)

    async def answered() -> None:
        ids = {first, second}
        while {a["callback_query_id"] for a in env.sim.callback_answers()} & ids != ids:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(answered(), 10)
    await asyncio.sleep(0.2)
    assert digests.runs == 1
    answers = {a["callback_query_id"]: a for a in env.sim.callback_answers()}
    assert env.tr("en", "stale-button") in (answers[first].get("text"), answers[second].get("text"))
