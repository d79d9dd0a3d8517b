"""Every reader's digest, word for word and pixel for pixel, as it was before the speed work.

``tests/data/digest_expected.json`` was written by the digest builder of commit
ae87fbd (before issue #16 made it faster) for the week seeded here: per reader,
the messages' HTML, the chart's caption, and the SHA-256 of the chart PNG. The
readers are varied on purpose: Russian, English and an unknown language (the
default language), muted subscriptions, keyword and event-kind filters, readers
who share the very same channels, a reader of one channel, one of every channel,
and one whose channels had a quiet week. A faster builder must give each of them
the same digest, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from storage.db import SessionMaker, transaction
from storage.models import Delivery, Digest, Subscriber, Subscription
from tests.digestkit import make_service, seed
from tests.seeds import NOW

EXPECTED = Path(__file__).parent / "data" / "digest_expected.json"


async def _vary_readers(sessions: SessionMaker) -> None:
    """Filters and mutes the digest must not be thrown by; shared and odd channel sets."""

    async def work(s: Any) -> None:
        await s.execute(update(Subscriber).where(Subscriber.id % 5 == 2).values(language="de"))
        await s.execute(
            update(Subscription).where(Subscription.subscriber_id % 3 == 0).values(muted=True)
        )
        await s.execute(
            update(Subscription)
            .where(Subscription.subscriber_id % 4 == 1)
            .values(keywords=["мобилизованные", "petition"], event_kinds=["posts"])
        )
        await s.execute(
            update(Subscription)
            .where(Subscription.subscriber_id % 7 == 3)
            .values(event_kinds=["labels", "deleted"])
        )
        # Readers 2..6 follow exactly what reader 7 follows (in two languages).
        same = list(
            await s.scalars(select(Subscription.channel_id).where(Subscription.subscriber_id == 7))
        )
        for sid in (2, 3, 4, 5, 6):
            await s.execute(delete(Subscription).where(Subscription.subscriber_id == sid))
            for cid in same:
                s.add(Subscription(subscriber_id=sid, channel_id=cid))
        # Reader 8 follows one channel; reader 9 only the quiet ones (every 17th is quiet).
        for sid, channels in ((8, [3]), (9, [17])):
            await s.execute(delete(Subscription).where(Subscription.subscriber_id == sid))
            for cid in channels:
                s.add(Subscription(subscriber_id=sid, channel_id=cid))

    await transaction(sessions, work)


async def _digests_as_sent(sessions: SessionMaker) -> dict[str, Any]:
    async with sessions() as s:
        rows = (
            await s.execute(
                select(Delivery, Digest, Subscriber.language)
                .join(Digest, Digest.id == Delivery.digest_id)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .order_by(Delivery.subscriber_id)
            )
        ).all()
    out: dict[str, Any] = {}
    for delivery, digest, language in rows:
        png = digest.chart_png
        out[str(delivery.subscriber_id)] = {
            "language": language,
            "channels": sorted(map(int, digest.stats["channels"])),
            "messages": [p["text"] for p in delivery.parts if p["method"] == "sendMessage"],
            "captions": [p.get("caption") for p in delivery.parts if p["method"] == "sendPhoto"],
            "chart_sha256": hashlib.sha256(png).hexdigest() if png is not None else None,
        }
    return out


async def test_every_reader_gets_the_digest_they_got_before(sessions: SessionMaker) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)
    await seed(sessions, period, channels=24, posts=2500, subscribers=30)
    await _vary_readers(sessions)

    await service.run_period(period)

    got = await _digests_as_sent(sessions)
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert sorted(got, key=int) == sorted(expected, key=int)
    for reader, want in expected.items():
        assert got[reader] == want, f"reader {reader}'s digest changed"
    # The variety the file is meant to cover is really there.
    languages = {want["language"] for want in expected.values()}
    assert languages == {"ru", "en", "de"}
    assert any(len(want["messages"]) > 1 for want in expected.values())
    assert any(want["chart_sha256"] is None for want in expected.values())
    shared = [want for r, want in expected.items() if r in {"2", "3", "4", "5", "6", "7"}]
    assert len({tuple(w["channels"]) for w in shared}) == 1
