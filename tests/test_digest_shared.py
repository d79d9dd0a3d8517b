"""Readers who follow the same channels in the same language get one digest, built once.

A channel's followers who follow nothing else are most of a big channel's readers:
the run says in its log how many digests it built, and that is one per distinct
(language, channels), however many readers share it.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import SessionMaker, transaction
from storage.models import Delivery, Digest, Subscriber, Subscription
from tests.digestkit import make_service, seed
from tests.seeds import NOW


async def test_readers_of_the_same_channels_share_one_build(
    sessions: SessionMaker, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)
    world = await seed(sessions, period, channels=6, posts=600, subscribers=30)
    readers = sorted(world.eligible)

    async def follow_channel_3(s: AsyncSession) -> None:
        await s.execute(delete(Subscription).where(Subscription.subscriber_id.in_(readers)))
        s.add_all(Subscription(subscriber_id=sid, channel_id=3) for sid in readers)
        await s.execute(update(Subscriber).where(Subscriber.id.in_(readers)).values(language="ru"))

    await transaction(sessions, follow_channel_3)
    with caplog.at_level(logging.INFO, logger="bot.digest.service"):
        assert await service.run_period(period) == len(readers)

    assert f"{len(readers)} readers, 1 channels, 1 digests built" in caplog.text
    async with sessions() as s:
        charts = set(await s.scalars(select(Digest.chart_png)))
        texts = {
            tuple(p.get("text") for p in parts) for parts in await s.scalars(select(Delivery.parts))
        }
    assert len(charts) == 1 and None not in charts
    assert len(texts) == 1
