"""Delivery throughput: one event fanned out to many subscribers through the real sender,
aiogram and HTTP to the simulated Bot API, which runs in a process of its own (as Telegram
is not in ours).

- `delivery_default_<db>`: Telegram's free limits (30 msg/s), the sender at its defaults;
  printed beside `delivery_recipe_<db>`, the common recipe (send, then sleep 0.05 s) over
  the same simulator and the same messages.
- `delivery_paid_<db>`: paid broadcasts (`allow_paid_broadcast`, DELIVERY_RATE=1000) against
  Telegram's paid limit of 1,000 msg/s.
- `delivery_ceiling_<db>` and `delivery_ceiling_100k_<db>`: the Bot API's limits lifted, with
  10,000 and 100,000 deliveries queued: what the sender itself can do, and that it stays flat
  as the outbox grows.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import LinkPreviewOptions
from sqlalchemy import func, insert, select

from bench.common import database, headline, kinds_available
from bot.delivery import Sender
from bot.i18n import Translator
from bot.routing import EventRouter
from chanwatch.telegram import build_bot
from simulator.botapi import BotAPIControlClient
from storage import events, payloads
from storage.db import SessionMaker, create_engine, session_factory, transaction
from storage.models import Channel, Delivery, Subscriber, Subscription
from storage.types import utcnow

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH"
LIFTED = 1_000_000.0


async def _seed(sessions: SessionMaker, subscribers: int) -> None:
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
        for start in range(0, subscribers, 10_000):
            await s.execute(
                insert(Subscriber),
                [
                    {
                        "chat_id": 100_000 + i,
                        "user_id": 100_000 + i,
                        "language": "ru" if i % 2 else "en",
                        "created_at": utcnow(),
                    }
                    for i in range(start, min(subscribers, start + 10_000))
                ],
            )
        ids = list(await s.scalars(select(Subscriber.id)))
        for start in range(0, len(ids), 10_000):
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
                    for sid in ids[start : start + 10_000]
                ],
            )
        await events.record(
            s,
            channel_id=channel_id,
            dedupe_key="bench",
            payload=payloads.PostNew(message_id=1, text="Срочно: новый пост"),
        )

    await transaction(sessions, work)


class SimulatedTelegram:
    """`python -m simulator.botapi` in a child process, limits set over its control API."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator.botapi", "--token", TOKEN],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        self.control = BotAPIControlClient(self.base_url)

    async def counters(self) -> tuple[int, int, int]:
        """Messages accepted, 429s, and paid messages above the free limit, so far."""
        stats = await self.control.stats()
        return stats["messages_accepted"], stats["rate_limited"], stats["paid_messages"]

    async def close(self) -> None:
        await self.control.close()
        self.proc.terminate()
        self.proc.wait(10)


async def _left(sessions: SessionMaker) -> int:
    async with sessions() as s:
        return (
            await s.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status != "sent")
            )
            or 0
        )


async def fanout(
    tg: SimulatedTelegram,
    db: str,
    subscribers: int,
    limits: dict[str, Any],
    *,
    recipe: bool = False,
    **sender: Any,
) -> tuple[float, int, int]:
    """Deliveries per second over the whole fan-out, the 429s and the paid messages."""
    async with database(db) as url:
        engine = create_engine(url)
        sessions = session_factory(engine)
        await _seed(sessions, subscribers)
        await EventRouter(sessions, Translator.load()).route_pending()
        await tg.control.limits(**limits)  # all buckets full again
        accepted, refused, paid = await tg.counters()
        bot = build_bot(TOKEN, tg.base_url)
        started = time.perf_counter()
        if recipe:
            await _recipe(bot, sessions)
        else:
            s = Sender(bot, sessions, **sender)
            # The pipeline `run` uses, until the outbox is empty (retries included).
            while await s.drain() or await _left(sessions):
                pass
        elapsed = time.perf_counter() - started
        now_accepted, now_refused, now_paid = await tg.counters()
        assert now_accepted - accepted == subscribers, f"{now_accepted - accepted} delivered"
        await bot.session.close()
        await engine.dispose()
        return subscribers / elapsed, now_refused - refused, now_paid - paid


async def _recipe(bot: Any, sessions: SessionMaker) -> None:
    """What most bots do: send, then sleep 0.05 s; on a 429 wait as told and send again."""
    async with sessions() as s:
        rows = list(await s.scalars(select(Delivery).order_by(Delivery.id)))
    for row in rows:
        for part in row.parts:
            while True:
                try:
                    await bot.send_message(
                        row.chat_id,
                        part["text"],
                        parse_mode="HTML",
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                    )
                    break
                except TelegramRetryAfter as exc:
                    await asyncio.sleep(exc.retry_after)
            await asyncio.sleep(0.05)


FREE = {"overall_per_second": 30.0, "overall_burst": 30}
LIFTED_LIMITS = {
    "overall_per_second": LIFTED,
    "overall_burst": int(LIFTED),
    "paid_per_second": LIFTED,
    "paid_burst": int(LIFTED),
}


async def run(quick: bool) -> None:
    tg = SimulatedTelegram()
    try:
        for db in await kinds_available():
            await _one_db(tg, db, quick)
    finally:
        await tg.close()


async def _one_db(tg: SimulatedTelegram, db: str, quick: bool) -> None:
    n = 150 if quick else 1000
    rate, r429, _ = await fanout(tg, db, n, FREE)
    headline(
        f"delivery_default_{db}",
        rate,
        "msg/s",
        rate / 30.0,
        f"30 msg/s Bot API limit ({n} subscribers, {r429} x 429)",
    )
    m = 100 if quick else 600
    recipe, r429, _ = await fanout(tg, db, m, FREE, recipe=True)
    headline(
        f"delivery_recipe_{db}",
        recipe,
        "msg/s",
        recipe / 30.0,
        f"30 msg/s Bot API limit: baseline, send then sleep 0.05 s ({m} subscribers, {r429} x 429)",
    )
    n = 2000 if quick else 10_000
    paid_limits = {**FREE, "paid_per_second": 1000.0, "paid_burst": 1000}
    rate, r429, paid = await fanout(
        tg, db, n, paid_limits, rate=1000.0, paid_broadcast=True, batch=500
    )
    headline(
        f"delivery_paid_{db}",
        rate,
        "msg/s",
        rate / 1000.0,
        f"1000 msg/s paid broadcast limit ({n} subscribers, {r429} x 429, {paid} charged)",
    )
    for label, n in (("", 3000 if quick else 10_000), ("_100k", 20_000 if quick else 100_000)):
        rate, r429, _ = await fanout(
            tg, db, n, LIFTED_LIMITS, rate=LIFTED, concurrency=64, batch=500
        )
        headline(
            f"delivery_ceiling{label}_{db}",
            rate,
            "msg/s",
            rate / 1000.0,
            f"1000 msg/s target, Bot API limit lifted ({n} deliveries queued, {r429} x 429)",
        )


def main(quick: bool) -> None:
    asyncio.run(run(quick))
