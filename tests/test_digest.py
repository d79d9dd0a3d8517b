"""The weekly digest's content against a seeded week: numbers, texts, chart, delivery.

The week is seeded by ``tests.seeds.seed_world`` (also the benchmark's seeder, there at
full size); the expected numbers are computed here with queries of their own.
"""

from __future__ import annotations

import asyncio
import html
import struct
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.delivery import Sender
from bot.digest import Period
from bot.digest import chart as chart_mod
from bot.digest.builder import Composer, load_weeks
from bot.render import ChannelRef, post_url
from bot.textsplit import CAPTION_LIMIT, MESSAGE_LIMIT, visible_len, visible_text
from storage import kinds
from storage.db import SessionMaker, transaction
from storage.models import (
    Channel,
    ChannelSnapshot,
    Delivery,
    Digest,
    DigestRun,
    Event,
    Post,
    PostVersion,
    Subscriber,
    Subscription,
)
from tests.digestkit import T, make_service, period_label, seed
from tests.renderkit import assert_telegram_html
from tests.seeds import NOW


async def deliveries(sessions: SessionMaker) -> list[Delivery]:
    async with sessions() as s:
        return list(await s.scalars(select(Delivery).order_by(Delivery.subscriber_id)))


async def digests(sessions: SessionMaker) -> list[Digest]:
    async with sessions() as s:
        return list(await s.scalars(select(Digest).order_by(Digest.subscriber_id)))


def texts_of(delivery: Delivery) -> list[str]:
    return [p["text"] for p in delivery.parts if p["method"] == "sendMessage"]


def caption_of(delivery: Delivery) -> str | None:
    photos = [p["caption"] for p in delivery.parts if p["method"] == "sendPhoto"]
    assert len(photos) <= 1
    return photos[0] if photos else None


# --------------------------------------------------------------------------- PNG reading


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, raw scanlines) of a palette PNG, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos = 8
    chunks: list[tuple[bytes, bytes]] = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 3, 0)
    palette = b"".join(body for kind, body in chunks if kind == b"PLTE")
    assert len(palette) == 3 * 256
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1)
    return width, height, raw


# --------------------------------------------------------------------------- expectations


async def expected_channel(
    sessions: SessionMaker, period: Period, channel_id: int
) -> dict[str, Any]:
    """A channel's numbers, asked of the database one question at a time."""
    start, end = period.start, period.end
    async with sessions() as s:
        posts = await s.scalar(
            select(func.count(Post.id)).where(
                Post.channel_id == channel_id, Post.date >= start, Post.date < end
            )
        )
        deleted = await s.scalar(
            select(func.count(Post.id)).where(
                Post.channel_id == channel_id, Post.deleted_at >= start, Post.deleted_at < end
            )
        )
        edits = await s.scalar(
            select(func.count(PostVersion.id))
            .join(Post, Post.id == PostVersion.post_id)
            .where(
                Post.channel_id == channel_id,
                PostVersion.version >= 2,
                PostVersion.seen_at >= start,
                PostVersion.seen_at < end,
            )
        )
        events = await s.scalar(
            select(func.count(Event.id)).where(
                Event.channel_id == channel_id,
                Event.kind.in_(kinds.CHANNEL_KINDS),
                Event.occurred_at >= start,
                Event.occurred_at < end,
            )
        )
        counted = ChannelSnapshot.participants.is_not(None)
        before = await s.scalar(
            select(ChannelSnapshot.participants)
            .where(ChannelSnapshot.channel_id == channel_id, ChannelSnapshot.taken_at < start)
            .where(counted)
            .order_by(ChannelSnapshot.taken_at.desc())
            .limit(1)
        )
        inside = (
            await s.scalars(
                select(ChannelSnapshot.participants)
                .where(
                    ChannelSnapshot.channel_id == channel_id,
                    ChannelSnapshot.taken_at >= start,
                    ChannelSnapshot.taken_at < end,
                )
                .where(counted)
                .order_by(ChannelSnapshot.taken_at)
            )
        ).all()
    first = before if before is not None else (inside[0] if inside else None)
    last = inside[-1] if inside else first
    return {
        "posts": posts,
        "deleted": deleted,
        "edits": edits,
        "events": events,
        "subscribers_start": first,
        "subscribers_end": last,
        "subscribers_change": None if first is None else last - first,
    }


async def expected_top(
    sessions: SessionMaker, period: Period, channel_ids: Sequence[int], column: Any
) -> list[list[int]]:
    async with sessions() as s:
        rows = await s.execute(
            select(Post.channel_id, Post.message_id, column)
            .where(
                Post.channel_id.in_(channel_ids),
                Post.date >= period.start,
                Post.date < period.end,
                Post.deleted_at.is_(None),
                column > 0,
            )
            .order_by(column.desc(), Post.channel_id, Post.message_id.desc())
            .limit(5)
        )
        return [list(r) for r in rows]


async def expected_events(
    sessions: SessionMaker, period: Period, channel_ids: Sequence[int]
) -> list[int]:
    async with sessions() as s:
        return list(
            await s.scalars(
                select(Event.id)
                .where(
                    Event.channel_id.in_(channel_ids),
                    Event.kind.in_(kinds.CHANNEL_KINDS),
                    Event.occurred_at >= period.start,
                    Event.occurred_at < period.end,
                )
                .order_by(Event.occurred_at, Event.id)
            )
        )


# --------------------------------------------------------------------------- tests


async def test_numbers_match_the_database(sessions: SessionMaker) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)
    world = await seed(sessions, period)

    assert await service.run_period(period) == len(world.eligible)

    rows = await digests(sessions)
    assert [d.subscriber_id for d in rows] == world.eligible
    per_channel = {
        cid: await expected_channel(sessions, period, cid) for cid in range(1, world.channels + 1)
    }
    assert sum(c["posts"] for c in per_channel.values()) > 1000
    assert sum(c["deleted"] for c in per_channel.values()) > 20
    assert sum(c["edits"] for c in per_channel.values()) > 50
    assert sum(c["events"] for c in per_channel.values()) > 10
    for digest in rows:
        stats = digest.stats
        followed = world.follows[digest.subscriber_id]
        assert sorted(map(int, stats["channels"])) == followed
        assert (digest.period_key, digest.period_start, digest.period_end) == (
            period.key,
            period.start,
            period.end,
        )
        for cid in followed:
            got = {k: v for k, v in stats["channels"][str(cid)].items() if k != "notable_edits"}
            assert got == per_channel[cid], (digest.subscriber_id, cid)
        for name in ("posts", "deleted", "edits", "events"):
            assert stats["totals"][name] == sum(per_channel[c][name] for c in followed)
        assert stats["events"] == await expected_events(sessions, period, followed)
        assert stats["top_views"] == await expected_top(sessions, period, followed, Post.views)
        assert stats["top_forwards"] == await expected_top(
            sessions, period, followed, Post.forwards
        )
        async with sessions() as s:
            first_deleted = (
                await s.execute(
                    select(Post.channel_id, Post.message_id)
                    .where(
                        Post.channel_id.in_(followed),
                        Post.deleted_at >= period.start,
                        Post.deleted_at < period.end,
                    )
                    .order_by(Post.deleted_at, Post.channel_id, Post.message_id)
                    .limit(10)
                )
            ).all()
        assert stats["deleted_shown"] == [list(r) for r in first_deleted]

    # The reader who follows every channel: the texts say what the numbers say.
    sent = {d.subscriber_id: d for d in await deliveries(sessions)}
    reader = rows[0]
    assert reader.subscriber_id == 1
    text = "\n".join(texts_of(sent[1]))
    visible = visible_text(text)
    async with sessions() as s:
        refs = {
            c.id: ChannelRef(c.tg_id, c.title, c.username) for c in await s.scalars(select(Channel))
        }
        for cid, mid, _views in reader.stats["top_views"]:
            assert html.escape(post_url(refs[cid], mid)) in text
        for cid, mid in reader.stats["deleted_shown"]:
            archived = await s.scalar(
                select(Post.text).where(Post.channel_id == cid, Post.message_id == mid)
            )
            words = archived.split()[:3]
            assert " ".join(words) in visible, (cid, mid)
    lang = await _language(sessions, 1)
    posts_word = T.get(lang, "dg-count-posts", count=reader.stats["totals"]["posts"])
    assert posts_word in visible
    if reader.stats["totals"]["deleted"] > 10:
        more = T.get(lang, "dg-deleted-more", count=reader.stats["totals"]["deleted"] - 10)
        assert more in visible


async def _language(sessions: SessionMaker, subscriber_id: int) -> str:
    async with sessions() as s:
        return await s.scalar(select(Subscriber.language).where(Subscriber.id == subscriber_id))


async def test_texts_split_at_item_boundaries_within_limits(sessions: SessionMaker) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)
    world = await seed(sessions, period)
    await service.run_period(period)

    async with sessions() as s:
        weeks = await load_weeks(s, period, range(1, world.channels + 1))
        languages = dict((await s.execute(select(Subscriber.id, Subscriber.language))).all())
    composer = Composer(T, service.tz, period, weeks)
    multi = 0
    for delivery in await deliveries(sessions):
        composed = composer.compose(
            languages[delivery.subscriber_id], world.follows[delivery.subscriber_id]
        )
        texts = texts_of(delivery)
        assert texts == composed.messages
        # Each message is a run of whole items, and every item is in exactly one message.
        items = list(composed.items)
        position = 0
        for message in texts:
            assert visible_len(message) <= MESSAGE_LIMIT
            assert_telegram_html(message)
            end = position + 1
            while "\n".join(items[position:end]) != message:
                end += 1
                assert end <= len(items), "a message is not a run of whole items"
            position = end
        assert position == len(items)
        multi += len(texts) > 1
        caption = caption_of(delivery)
        if caption is not None:
            assert visible_len(caption) <= CAPTION_LIMIT
            assert_telegram_html(caption)
    assert multi >= 1, "the seeded week should give some reader a digest of several messages"


async def test_chart_is_a_png_of_the_expected_size(sessions: SessionMaker) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)
    world = await seed(sessions, period)
    await service.run_period(period)
    charted = 0
    for digest in await digests(sessions):
        panels = len(digest.stats["chart_channels"])
        if not panels:
            assert digest.chart_png is None
            continue
        charted += 1
        width, height, raw = read_png(digest.chart_png)
        assert (width, height) == chart_mod.chart_size(panels)
        assert panels == min(
            chart_mod.MAX_PANELS,
            sum(1 for c in world.follows[digest.subscriber_id] if c % 11 != 0),
        )
        rows = [raw[i * (width + 1)] for i in range(height)]
        assert set(rows) == {0}
    assert charted > 0


def test_chart_strips_stitch_into_one_image() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 10, 20, 7, 0, tzinfo=ZoneInfo("UTC"))
    end = start + timedelta(days=7, hours=1)  # over the end of summer time
    series = [(start + timedelta(hours=h), 1000 + h * h) for h in range(0, 169, 3)]
    strips = [chart_mod.render_header("Subscribers · Oct 20 – 27", "Times in Europe/Berlin")]
    for title, counts in (("Путь домой $x$ 🇷🇺", series), ("flat", [(start, 5), (end, 5)])):
        strips += [
            chart_mod.render_title(title, counts[0][1], counts[-1][1], "ru"),
            chart_mod.render_curve(counts, start, end, tz, counts[0][1]),
            chart_mod.render_days(start, end, tz, "ru"),
        ]
    png = chart_mod.stitch(strips)
    width, height, raw = read_png(png)
    assert (width, height) == chart_mod.chart_size(2)
    # Not blank: the curves and texts left pixels of several colours.
    assert len(set(raw)) > 10
    assert len(chart_mod.day_ticks(start, end, tz)) == 7


async def test_empty_week_says_so_in_one_line(sessions: SessionMaker) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)

    async def setup(s: Any) -> None:
        for i in (1, 2):
            s.add(Channel(id=i, tg_id=9000 + i, title=f"Quiet <{i}>", username=f"quiet{i}"))
        s.add(Subscriber(id=1, chat_id=77, language="ru"))
        s.add(Subscriber(id=2, chat_id=78, language="en"))
        await s.flush()
        for sid in (1, 2):
            for cid in (1, 2):
                s.add(Subscription(subscriber_id=sid, channel_id=cid))
        # Activity outside the period does not count.
        s.add(
            Post(
                channel_id=1,
                message_id=5,
                text="old",
                date=period.start - timedelta(days=1),
                views=10,
            )
        )
        s.add(
            ChannelSnapshot(channel_id=1, taken_at=period.start - timedelta(days=1), participants=9)
        )

    await transaction(sessions, setup)
    assert await service.run_period(period) == 2
    for delivery in await deliveries(sessions):
        assert len(delivery.parts) == 1 and delivery.parts[0]["method"] == "sendMessage"
        text = delivery.parts[0]["text"]
        assert "\n" not in text
        lang = "ru" if delivery.chat_id == 77 else "en"
        assert text == T.get(
            lang,
            "dg-empty",
            title=html.escape(T.get(lang, "dg-title", period=period_label(service, period, lang))),
            count=2,
        )
    for digest in await digests(sessions):
        assert digest.stats["empty"] is True and digest.chart_png is None


async def test_russian_reader_gets_russian(sessions: SessionMaker) -> None:
    service = make_service(sessions)
    period = service.period_for(NOW)
    await seed(sessions, period, channels=6, posts=300, subscribers=6)
    await service.run_period(period)
    async with sessions() as s:
        langs = dict((await s.execute(select(Subscriber.id, Subscriber.language))).all())
    seen = set()
    for delivery in await deliveries(sessions):
        lang = langs[delivery.subscriber_id]
        seen.add(lang)
        first = visible_text(texts_of(delivery)[0])
        assert first.startswith(T.get(lang, "dg-title", period=period_label(service, period, lang)))
        heads = T.get(lang, "dg-section-events")
        assert heads in visible_text("\n".join(texts_of(delivery)))
        if lang == "ru":
            assert "нояб." in first
    assert seen == {"en", "ru"}


async def test_digest_reaches_each_chat_once_through_the_sender(
    sessions: SessionMaker, botapi: tuple[Any, Any]
) -> None:
    sim, bot = botapi
    service = make_service(sessions)
    period = service.period_for(NOW)
    world = await seed(sessions, period, channels=6, posts=400, subscribers=10)
    assert await service.run_period(period) == len(world.eligible)
    assert await service.run_period(period) == 0

    sender = Sender(bot, sessions)
    for _ in range(200):
        await sender.drain_once()
        async with sessions() as s:
            left = await s.scalar(select(func.count(Delivery.id)).where(Delivery.status != "sent"))
        if not left:
            break
        await asyncio.sleep(0.2)
    assert left == 0
    charts = {d.subscriber_id: d.chart_png for d in await digests(sessions)}
    for delivery in await deliveries(sessions):
        received = sim.received(delivery.chat_id)
        texts = texts_of(delivery)
        got_texts = [m for m in received if m.method == "sendMessage"]
        got_photos = [m for m in received if m.method == "sendPhoto"]
        assert [m.source for m in got_texts] == texts
        assert len(got_photos) == (1 if caption_of(delivery) else 0)
        if got_photos:
            assert got_photos[0].photo == charts[delivery.subscriber_id]
            assert got_photos[0].source == caption_of(delivery)
        assert len(received) == len(delivery.parts)
    async with sessions() as s:
        run = await s.scalar(select(DigestRun).where(DigestRun.period_key == period.key))
    assert run is not None and run.completed_at is not None
    assert run.subscribers == len(world.eligible)
