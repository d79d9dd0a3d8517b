"""Storage on SQLite and PostgreSQL: migrations, unique keys under concurrency, the archive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession

from storage import changes, events, kinds, locks, outbox, payloads
from storage.db import SessionMaker, create_engine, transaction
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Base, Channel, Delivery, Event, Post, PostVersion, Subscriber
from storage.observations import ChannelSeen, PostSeen, RestrictionSeen
from tests import dbs
from tests.support import channel_seen, watched_channel

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_migrations_match_models(kind: str, tmp_path: Path) -> None:
    """Autogenerate against a freshly migrated database finds nothing to change."""
    if kind == "postgres" and (reason := await dbs.postgres_unavailable()):
        pytest.skip(reason)
    async with dbs.database_url(kind, tmp_path, migrated=False) as url:
        engine = create_engine(url)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision() is not None

        def diff(conn: object) -> list[object]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})  # type: ignore[arg-type]
            return compare_metadata(ctx, Base.metadata)

        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
        await upgrade(engine)  # a second upgrade is a no-op
        await engine.dispose()
    assert differences == []


async def test_event_dedupe_key_holds_under_concurrent_inserts(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)

    async def insert(i: int) -> int | None:
        async def work(s: AsyncSession) -> int | None:
            return await events.record(
                s,
                channel_id=channel_id,
                dedupe_key="post.new:1:7",
                payload=payloads.PostNew(message_id=i),
            )

        return await transaction(sessions, work)

    results = await asyncio.gather(*(insert(i) for i in range(20)))
    async with sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Event))
    assert count == 1
    assert sum(r is not None for r in results) == 1


async def test_delivery_key_holds_under_concurrent_inserts(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)

    async def setup(s: AsyncSession) -> tuple[int, int]:
        sub = Subscriber(chat_id=555, language="ru")
        s.add(sub)
        await s.flush()
        event_id = await events.record(
            s, channel_id=channel_id, dedupe_key="k", payload=payloads.PostNew()
        )
        assert event_id is not None
        return sub.id, event_id

    sub_id, event_id = await transaction(sessions, setup)

    async def insert() -> int | None:
        async def work(s: AsyncSession) -> int | None:
            return await outbox.enqueue(
                s,
                subscriber_id=sub_id,
                chat_id=555,
                kind="alert",
                event_id=event_id,
                dedupe_key=f"alert:{event_id}:{sub_id}",
                parts=[{"method": "sendMessage"}],
            )

        return await transaction(sessions, work)

    results = await asyncio.gather(*(insert() for _ in range(20)))
    async with sessions() as s:
        rows = (await s.scalars(select(Delivery))).all()
    assert len(rows) == 1
    assert [r for r in results if r is not None] == [rows[0].id]


async def test_post_versions_survive_deletion(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    texts = ["Первая версия", "Вторая версия", "Третья <b>версия</b> & ещё"]
    for i, text in enumerate(texts):
        post = PostSeen(
            message_id=10, date=T0, text=text, edit_date=T0 + timedelta(minutes=i) if i else None
        )
        await transaction(sessions, lambda s, p=post: changes.observe_posts(s, channel_id, [p]))
    rec = await transaction(sessions, lambda s: changes.observe_deleted(s, channel_id, [10]))
    assert len(rec.event_ids) == 1

    async with sessions() as s:
        post = await s.scalar(select(Post).where(Post.message_id == 10))
        assert post is not None and post.deleted_at is not None
        versions = (
            await s.scalars(
                select(PostVersion)
                .where(PostVersion.post_id == post.id)
                .order_by(PostVersion.version)
            )
        ).all()
        deleted = await s.get(Event, rec.event_ids[0])
    assert [v.text for v in versions] == texts
    assert deleted is not None and deleted.kind == kinds.POST_DELETED
    assert deleted.payload["text"] == texts[-1]

    # The same deletion seen again (update, then a reconciliation sweep) is not a second event.
    again = await transaction(sessions, lambda s: changes.observe_deleted(s, channel_id, [10]))
    assert again.event_ids == []


async def test_json_columns_keep_cyrillic_as_it_is(sessions: SessionMaker) -> None:
    # Escaped, every Cyrillic letter took six bytes in the database and on each read.
    channel_id = await watched_channel(sessions)
    await transaction(
        sessions,
        lambda s: changes.observe_posts(
            s, channel_id, [PostSeen(message_id=11, date=T0, text="Путь домой")]
        ),
    )
    await transaction(sessions, lambda s: changes.observe_deleted(s, channel_id, [11]))
    async with sessions() as s:
        stored = await s.scalar(sql("SELECT CAST(payload AS TEXT) FROM events"))
    assert stored is not None and "Путь домой" in stored and "\\u041f" not in stored


async def test_same_post_seen_by_update_and_poll_is_one_event(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    post = PostSeen(message_id=5, date=T0, text="hello")
    results = await asyncio.gather(
        *(
            transaction(sessions, lambda s: changes.observe_posts(s, channel_id, [post]))
            for _ in range(5)
        )
    )
    assert sum(len(r.event_ids) for r in results) == 1
    edited = PostSeen(message_id=5, date=T0, text="hello world", edit_date=T0)
    results = await asyncio.gather(
        *(
            transaction(sessions, lambda s: changes.observe_posts(s, channel_id, [edited]))
            for _ in range(5)
        )
    )
    assert sum(len(r.event_ids) for r in results) == 1
    async with sessions() as s:
        kinds_seen = (await s.scalars(select(Event.kind).order_by(Event.id))).all()
        ch = await s.get(Channel, channel_id)
    assert kinds_seen == [kinds.POST_NEW, kinds.POST_EDITED]
    # A live sighting does not move the catch-up cursor.
    assert ch is not None and ch.last_message_id == 0


async def test_label_changes_and_min_channel(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)

    async def see(seen: ChannelSeen) -> list[str]:
        rec = await transaction(sessions, lambda s: changes.observe_channel(s, channel_id, seen))
        async with sessions() as s:
            return [
                f"{e.kind}:{e.payload.get('label', '')}"
                for e in (await s.scalars(select(Event).where(Event.id.in_(rec.event_ids))))
            ]

    assert await see(channel_seen()) == []  # first look sets the state
    assert await see(channel_seen(fake=True)) == ["channel.label_added:fake"]
    # A min channel carries no flags: nothing may be read as "FAKE removed".
    assert (
        await see(
            channel_seen(
                is_min=True,
                fake=None,
                scam=None,
                verified=None,
                restricted=None,
                participants=None,
                username=None,
                username_known=False,
            )
        )
        == []
    )
    assert await see(channel_seen(fake=False)) == ["channel.label_removed:fake"]
    assert await see(channel_seen(fake=True)) == ["channel.label_added:fake"]
    reason = RestrictionSeen("android", "sensitive", "Unavailable on Android")
    assert await see(channel_seen(fake=True, restricted=True, restrictions=(reason,))) == [
        "channel.label_added:restricted:android:sensitive"
    ]
    assert await see(channel_seen(fake=True, restricted=True, restrictions=(reason,))) == []


async def test_subscriber_jump_once(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)

    async def see(n: int, at: datetime) -> list[Event]:
        rec = await transaction(
            sessions,
            lambda s: changes.observe_channel(
                s, channel_id, channel_seen(participants=n, observed_at=at), jump_pct=10.0
            ),
        )
        async with sessions() as s:
            return list(await s.scalars(select(Event).where(Event.id.in_(rec.event_ids))))

    assert await see(1000, T0) == []
    assert await see(1050, T0 + timedelta(hours=1)) == []
    jump = await see(1200, T0 + timedelta(hours=2))
    assert [e.kind for e in jump] == [kinds.SUBSCRIBERS_JUMP]
    assert jump[0].payload["before"] == 1000 and jump[0].payload["after"] == 1200
    # The same plateau is not news again.
    assert await see(1210, T0 + timedelta(hours=3)) == []


async def test_stale_sighting_after_an_edit_is_not_a_revert(sessions: SessionMaker) -> None:
    """A sweep that fetched a post before its edit and stores after it changes nothing."""
    channel_id = await watched_channel(sessions)
    original = PostSeen(message_id=3, date=T0, text="до")
    edited = PostSeen(message_id=3, date=T0, text="после", edit_date=T0 + timedelta(minutes=5))
    for seen in (original, edited, original):
        await transaction(sessions, lambda s, p=seen: changes.observe_posts(s, channel_id, [p]))
    async with sessions() as s:
        post = await s.scalar(select(Post).where(Post.message_id == 3))
        kinds_seen = (await s.scalars(select(Event.kind).order_by(Event.id))).all()
    assert post is not None and post.text == "после" and post.version == 2
    assert kinds_seen == [kinds.POST_NEW, kinds.POST_EDITED]


async def test_album_is_one_alert_with_its_caption(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    album = [
        PostSeen(
            message_id=20 + i,
            date=T0,
            text="Подпись" if i == 1 else "",
            media_kind="photo",
            grouped_id=999,
        )
        for i in range(3)
    ]
    rec = await transaction(sessions, lambda s: changes.observe_posts(s, channel_id, album))
    assert rec.new_posts == 3 and len(rec.event_ids) == 1
    async with sessions() as s:
        event = await s.get(Event, rec.event_ids[0])
    assert event is not None and event.kind == kinds.POST_NEW
    assert event.payload["album_size"] == 3 and event.payload["text"] == "Подпись"
    assert event.payload["media_kind"] == "album"


@pytest.mark.postgres
@pytest.mark.parametrize("db_kind", ["postgres"], indirect=True)
async def test_watch_requests_do_not_wait_behind_the_log(sessions: SessionMaker) -> None:
    # /watch took the observation log's lock key: a request waited for every append
    # and checkpoint of every process.
    async with sessions() as appender, appender.begin():
        await locks.hold(appender, locks.Lock.LOG)
        async with sessions() as watcher, watcher.begin():
            await asyncio.wait_for(locks.hold(watcher, locks.Lock.WATCH_REQUESTS), 5)
