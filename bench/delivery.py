"""Delivery throughput: one event fanned out to many subscribers through the real sender,
aiogram and HTTP to the simulated Bot API, as a ratio to the Bot API's overall limit."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, insert, select

from bench.common import database, headline, kinds_available
from bot.delivery import Sender
from bot.i18n import Translator
from bot.routing import EventRouter
from chanwatch.telegram import build_bot
from simulator.botapi import BotAPILimits, BotAPISimulator
from storage import events, payloads
from storage.db import create_engine, session_factory, transaction
from storage.models import Channel, Delivery, Subscriber, Subscription
from storage.types import utcnow


async def _seed(sessions, subscribers: int) -> None:  # type: ignore[no-untyped-def]
    async def work(s):  # type: ignore[no-untyped-def]
        channel_id = (
            await s.execute(
                insert(Channel)
                .values(
                    tg_id=1,
                    access_hash=1,
                    username="putdomoi",
                    title="Путь домой",
                    about="",
                    restriction_reasons=[],
                    added_at=utcnow(),
                )
                .returning(Channel.id)
            )
        ).scalar_one()
        await s.execute(
            insert(Subscriber),
            [
                {
                    "chat_id": 100_000 + i,
                    "user_id": 100_000 + i,
                    "language": "ru" if i % 2 else "en",
                    "created_at": utcnow(),
                }
                for i in range(subscribers)
            ],
        )
        ids = list(await s.scalars(select(Subscriber.id)))
        await s.execute(
            insert(Subscription),
            [
                {
                    "subscriber_id": sid,
                    "channel_id": channel_id,
                    "keywords": [],
                    "event_kinds": ["posts", "edits", "deletions", "channel"],
                    "created_at": utcnow(),
                }
                for sid in ids
            ],
        )
        await events.record(
            s,
            channel_id=channel_id,
            dedupe_key="bench",
            payload=payloads.PostNew(message_id=1, text="Срочно: новый пост"),
        )

    await transaction(sessions, work)


async def fanout(db: str, subscribers: int, limit: float) -> tuple[float, int]:
    """Deliveries per second over the whole fan-out, and the 429s the server gave."""
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        await _seed(sessions, subscribers)
        await EventRouter(sessions, Translator.load()).route_pending()
        limits = BotAPILimits(overall_per_second=limit, overall_burst=int(max(limit, 30)))
        sim = BotAPISimulator(limits=limits)
        await sim.start()
        bot = build_bot(sim.token, sim.base_url)
        sender = Sender(bot, sessions, rate=limit, concurrency=64, batch=500)
        started = time.perf_counter()
        while True:
            await sender.drain_once()
            async with sessions() as s:
                left = await s.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.status != "sent")
                )
            if not left:
                break
        elapsed = time.perf_counter() - started
        got = sim.stats.messages_accepted
        assert got == subscribers, f"{got} of {subscribers} delivered"
        await bot.session.close()
        await sim.stop()
        await engine.dispose()
        return subscribers / elapsed, sim.stats.rate_limited


async def run(quick: bool) -> None:
    for db in await kinds_available():
        n = 300 if quick else 1000
        rate, r429 = await fanout(db, n, 30.0)
        headline(
            f"delivery_default_{db}",
            rate,
            "msg/s",
            rate / 30.0,
            f"30 msg/s Bot API limit ({n} subscribers, {r429} x 429)",
        )
        n = 3000 if quick else 10_000
        rate, r429 = await fanout(db, n, 1000.0)
        headline(
            f"delivery_ceiling_{db}",
            rate,
            "msg/s",
            rate / 1000.0,
            f"1000 msg/s raised limit ({n} subscribers, {r429} x 429)",
        )


def main(quick: bool) -> None:
    asyncio.run(run(quick))
