"""The digest's seeded week: channels, posts, edits, deletions, events and readers in bulk.

The digest tests seed their week with ``seed_world`` at test size; ``python -m bench digest``
seeds it at benchmark size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import SessionMaker, dialect_name
from storage.models import (
    Channel,
    ChannelSnapshot,
    Event,
    Post,
    PostVersion,
    Subscriber,
    Subscription,
)

SCHEDULE = "mon 09:00"
TIMEZONE = "Europe/Moscow"
# A Monday 09:30 in Moscow: the period is Mon 17 Nov 09:00 → Mon 24 Nov 09:00 (MSK).
NOW = datetime(2025, 11, 24, 6, 30, tzinfo=UTC)

_WORDS = (
    "war mobilisation return home soldiers wives mothers petition rotation front letter "
    "ministry answer silence meeting Moscow Kremlin governor army contract demand "
    "вернуть домой мобилизованные жёны матери ротация обращение ответ министерство "
    "митинг петиция фронт письмо тишина <b>not-a-tag</b> AT&T 5>3 “quoted” 🔥 🇷🇺"
).split()


@dataclass
class World:
    """What was seeded (ids are dense from 1)."""

    start: datetime
    end: datetime
    channels: int
    posts: int
    subscribers: int
    eligible: list[int] = field(default_factory=list)
    follows: dict[int, list[int]] = field(default_factory=dict)


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))


def channel_title(i: int) -> str:
    kind = i % 5
    if kind == 0:
        return f"Путь домой №{i}"
    if kind == 1:
        return f"News <{i}> & more"
    if kind == 2:
        return f"Channel {i} 🔥"
    return f"Channel {i}"


async def _bulk(session: AsyncSession, model: type, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 5000):
        await session.execute(insert(model), rows[i : i + 5000])


async def seed_world(
    sessions: SessionMaker,
    start: datetime,
    end: datetime,
    *,
    channels: int,
    posts: int,
    subscribers: int,
    follows: int = 10,
    seed: int = 1,
    snapshot_every: timedelta = timedelta(hours=6),
) -> World:
    """A week of activity around ``[start, end)``, with some of it just outside.

    Channels: some without a username, titles with HTML specials, emoji and
    Cyrillic; every 11th has no subscriber counts at all, every 13th has counts
    only from inside the period, every 17th is quiet (no posts, no events).
    Posts: views and forwards, ~3 % deleted (some with long texts), ~6 % edited
    (half of them only in spacing or punctuation), some text-less. Events: label,
    restriction, rename, username, description, reachability and subscriber
    jumps, plus post events that the digest must not count as channel events.
    Readers: ru and en; every 23rd has the digest off, every 29th blocked the bot,
    every 31st is banned, every 19th follows nothing; reader 1 follows everything.
    """
    rng = random.Random(seed)
    span_from = start - timedelta(hours=12)
    span = (end + timedelta(hours=6) - span_from).total_seconds()

    def when() -> datetime:
        return span_from + timedelta(seconds=rng.uniform(0, span))

    world = World(start, end, channels, posts, subscribers)
    channel_rows: list[dict[str, Any]] = []
    for i in range(1, channels + 1):
        channel_rows.append(
            {
                "id": i,
                "tg_id": 1_000_000 + i,
                "username": None if i % 7 == 0 else f"chan{i}",
                "title": channel_title(i),
                "about": "",
                "participants": 1000 * i,
                "restriction_reasons": [],
                "input_handle": f"chan{i}",
                "added_at": start - timedelta(days=30),
            }
        )

    snapshot_rows: list[dict[str, Any]] = []
    for i in range(1, channels + 1):
        if i % 11 == 0:
            continue
        count = rng.randint(500, 400_000)
        if i % 13 != 0:
            snapshot_rows.append(
                {"channel_id": i, "taken_at": start - timedelta(hours=2), "participants": count}
            )
        taken_at = start + timedelta(minutes=rng.randint(0, 120))
        trend = rng.choice((-0.004, -0.001, 0.0, 0.002, 0.01))
        while taken_at < end + timedelta(hours=12):
            count = max(0, int(count * (1 + trend + rng.uniform(-0.002, 0.002))))
            snapshot_rows.append({"channel_id": i, "taken_at": taken_at, "participants": count})
            taken_at += snapshot_every
    for row in snapshot_rows:
        row.update(title="", username=None, labels=[])

    active = [i for i in range(1, channels + 1) if i % 17 != 0] or [1]
    weights = [1 + (i % 9) for i in active]
    next_message: dict[int, int] = {}
    post_rows, version_rows, event_rows = [], [], []
    for post_id in range(1, posts + 1):
        channel_id = rng.choices(active, weights)[0]
        message_id = next_message[channel_id] = next_message.get(channel_id, 100) + 1
        date = when()
        roll = rng.random()
        body = "" if roll < 0.05 else _sentence(rng, 3, 400 if roll > 0.97 else 40)
        versions = [body]
        seen = [date]
        if rng.random() < 0.06:
            if rng.random() < 0.5:
                edited = body.replace(" ", "  ", 1) + "!"  # spacing and punctuation only
            else:
                edited = body + " " + _sentence(rng, 1, 6)
            versions.append(edited)
            seen.append(max(date, when()) + timedelta(minutes=1))
            if rng.random() < 0.2:
                versions.append(edited.replace(rng.choice(_WORDS), rng.choice(_WORDS), 1))
                seen.append(seen[-1] + timedelta(hours=rng.randint(1, 30)))
        deleted_at = None
        if rng.random() < 0.03:
            deleted_at = max(date, when()) + timedelta(minutes=2)
        views = None if rng.random() < 0.02 else rng.randint(0, 100_000)
        post_rows.append(
            {
                "id": post_id,
                "channel_id": channel_id,
                "message_id": message_id,
                "grouped_id": None,
                "text": versions[-1],
                "media_kind": "photo" if not body else None,
                "date": date,
                "edit_date": seen[-1] if len(versions) > 1 else None,
                "views": views,
                "forwards": None if views is None else rng.randint(0, 800),
                "reactions": None,
                "version": len(versions),
                "first_seen_at": date,
                "last_seen_at": seen[-1],
                "deleted_at": deleted_at,
            }
        )
        for n, (body_n, seen_n) in enumerate(zip(versions, seen, strict=True), start=1):
            version_rows.append(
                {
                    "post_id": post_id,
                    "version": n,
                    "text": body_n,
                    "edit_date": seen_n if n > 1 else None,
                    "seen_at": seen_n,
                }
            )
        if deleted_at is not None:
            event_rows.append(
                {
                    "channel_id": channel_id,
                    "post_id": post_id,
                    "kind": "post.deleted",
                    "payload": {"message_id": message_id, "text": versions[-1]},
                    "occurred_at": deleted_at,
                }
            )

    notice = "Этот канал заблокирован на Android. " * 20
    for channel_id in active:
        for _ in range(rng.randint(0, 4)):
            kind, payload = rng.choice(
                [
                    ("channel.label_added", {"label": "fake", "text": None}),
                    ("channel.label_removed", {"label": "fake", "text": None}),
                    ("channel.label_added", {"label": "restricted:android:porn", "text": notice}),
                    ("channel.label_added", {"label": "scam", "text": None}),
                    (
                        "channel.renamed",
                        {"before": f"Old <{channel_id}>", "after": channel_title(channel_id)},
                    ),
                    (
                        "channel.username_changed",
                        {"before": f"old{channel_id}", "after": f"chan{channel_id}"},
                    ),
                    (
                        "channel.about_changed",
                        {"before": _sentence(rng, 5, 60), "after": _sentence(rng, 5, 60)},
                    ),
                    ("channel.unavailable", {"reason": "banned", "detail": "CHANNEL_PRIVATE"}),
                    ("channel.available", {"unavailable_hours": 5.0}),
                    (
                        "channel.subscribers_jump",
                        {"before": 1000, "after": 1300, "change_pct": 30.0, "window_hours": 6},
                    ),
                ]
            )
            event_rows.append(
                {
                    "channel_id": channel_id,
                    "post_id": None,
                    "kind": kind,
                    "payload": payload,
                    "occurred_at": when(),
                }
            )
    for n, row in enumerate(event_rows, start=1):
        row.update(id=n, dedupe_key=f"seed:{n}", detected_at=row["occurred_at"], routed_at=None)

    subscriber_rows, subscription_rows = [], []
    channel_ids = list(range(1, channels + 1))
    for i in range(1, subscribers + 1):
        subscriber_rows.append(
            {
                "id": i,
                "chat_id": 5_000_000 + i,
                "user_id": 5_000_000 + i,
                "username": None,
                "first_name": f"Reader {i}",
                "language": "ru" if rng.random() < 0.6 else "en",
                "is_moderator": False,
                "digest_enabled": i % 23 != 0,
                "blocked_at": start if i % 29 == 0 else None,
                "banned_at": start if i % 31 == 0 else None,
                "created_at": start - timedelta(days=10),
            }
        )
        if i % 19 == 0:
            followed: list[int] = []
        elif i == 1:
            followed = channel_ids
        else:
            k = max(1, min(channels, follows + rng.randint(-3, 3)))
            followed = sorted(rng.sample(channel_ids, k))
        world.follows[i] = followed
        for channel_id in followed:
            subscription_rows.append(
                {
                    "subscriber_id": i,
                    "channel_id": channel_id,
                    "event_kinds": [],
                    "keywords": [],
                    "muted": False,
                    "created_at": start - timedelta(days=10),
                }
            )
        if i % 23 and i % 29 and i % 31 and followed:
            world.eligible.append(i)

    async with sessions() as session, session.begin():
        await _bulk(session, Channel, channel_rows)
        await _bulk(session, ChannelSnapshot, snapshot_rows)
        await _bulk(session, Post, post_rows)
        await _bulk(session, PostVersion, version_rows)
        await _bulk(session, Event, event_rows)
        await _bulk(session, Subscriber, subscriber_rows)
        await _bulk(session, Subscription, subscription_rows)
        if dialect_name(session) == "postgresql":
            for table in ("channels", "posts", "events", "subscribers"):
                await session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    return world
