"""The full-fidelity archive on SQLite and PostgreSQL: every part of a post kept per version,
edits told by what changed, files queued with their post, albums and avatars."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage import changes, content, export, kinds, ledger
from storage.db import SessionMaker, transaction
from storage.models import Channel, Event, LogRecord, MediaFile, Post, PostVersion
from storage.observations import (
    ChannelSeen,
    EntitySeen,
    ForwardSeen,
    LinkPreviewSeen,
    MediaSeen,
    PollSeen,
    PostSeen,
)
from tests.support import watched_channel

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LINK = EntitySeen("texturl", 0, 7, url="https://example.org/petition")
BOLD = EntitySeen("bold", 8, 4)
PHOTO = MediaSeen("photo", tg_id=5001, mime_type="image/jpeg", size=120_000, width=1280)


def _post(**parts: object) -> PostSeen:
    base = PostSeen(
        message_id=10,
        date=T0,
        text="Подпись к видео",
        media_kind="photo",
        entities=(LINK,),
        media=PHOTO,
        forward=ForwardSeen(from_channel_id=77, from_name="Совет матерей", message_id=5, date=T0),
        reply_to=3,
        author="Мария",
        link_preview=LinkPreviewSeen("https://example.org", title="Пример"),
    )
    return replace(base, **parts)  # type: ignore[arg-type]


async def _see(sessions: SessionMaker, channel_id: int, *seen: PostSeen) -> list[int]:
    rec = await transaction(sessions, lambda s: changes.observe_posts(s, channel_id, list(seen)))
    return rec.event_ids


async def _events(sessions: SessionMaker, kind: str) -> list[Event]:
    async with sessions() as s:
        return list(await s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


async def test_every_part_of_a_post_is_kept(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    await _see(sessions, channel_id, _post())
    async with sessions() as s:
        post = await s.scalar(select(Post))
        version = await s.scalar(select(PostVersion))
        queued = list(await s.scalars(select(MediaFile)))
    assert post is not None and version is not None
    details = post.details
    assert details == version.details
    assert details["entities"] == [
        {"kind": "texturl", "offset": 0, "length": 7, "url": "https://example.org/petition"}
    ]
    assert details["media"]["tg_id"] == 5001 and details["media"]["size"] == 120_000
    assert details["forward"]["from_channel_id"] == 77
    assert details["forward"]["from_name"] == "Совет матерей"
    assert details["reply_to"] == 3 and details["author"] == "Мария"
    assert details["link_preview"] == {"url": "https://example.org", "title": "Пример"}
    [row] = queued
    assert (row.kind, row.tg_id, row.size, row.status) == ("photo", 5001, 120_000, "pending")
    [new] = await _events(sessions, kinds.POST_NEW)
    assert new.payload["media"]["kind"] == "photo"
    assert new.payload["forwarded_from"] == "Совет матерей"


async def test_each_kind_of_edit_is_one_event_saying_what_changed(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    first = _post()
    later = T0 + timedelta(minutes=1)
    steps = [
        (replace(first, media=replace(PHOTO, tg_id=5002)), ["media_replaced"]),
        (
            replace(
                first,
                media=replace(PHOTO, tg_id=5002),
                entities=(replace(LINK, url="https://x.example"),),
            ),
            ["links"],
        ),
        (
            replace(
                first,
                media=replace(PHOTO, tg_id=5002),
                entities=(replace(LINK, url="https://x.example"), BOLD),
            ),
            ["formatting"],
        ),
        (
            replace(
                first,
                media=None,
                media_kind=None,
                entities=(replace(LINK, url="https://x.example"), BOLD),
            ),
            ["media_removed"],
        ),
    ]
    await _see(sessions, channel_id, first)
    for i, (seen, expected) in enumerate(steps):
        edited = replace(seen, edit_date=later + timedelta(minutes=i))
        assert len(await _see(sessions, channel_id, edited)) == 1, expected
        # Seeing the same version again is no news.
        assert await _see(sessions, channel_id, edited) == []
    edits = await _events(sessions, kinds.POST_EDITED)
    assert [e.payload["changes"] for e in edits] == [expected for _, expected in steps]
    assert edits[1].payload["links_before"] == ["https://example.org/petition"]
    assert edits[1].payload["links_after"] == ["https://x.example"]
    assert edits[3].payload["media_before"]["kind"] == "photo"
    async with sessions() as s:
        post = await s.scalar(select(Post))
        versions = list(await s.scalars(select(PostVersion).order_by(PostVersion.version)))
        files = sorted(await s.scalars(select(MediaFile.tg_id)))
    assert post is not None and post.version == 5 and "media" not in post.details
    assert [v.details.get("media", {}).get("tg_id") for v in versions] == [
        5001,
        5002,
        5002,
        5002,
        None,
    ]
    assert files == [5001, 5002]  # the replacement photo is archived too


async def test_poll_closing_is_an_edit(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    poll = PollSeen("Вернуть мобилизованных?", ("Да", "Нет"))
    seen = PostSeen(message_id=4, date=T0, media_kind="poll", poll=poll, entities=())
    await _see(sessions, channel_id, seen)
    closed = replace(seen, poll=replace(poll, closed=True), edit_date=T0 + timedelta(hours=1))
    await _see(sessions, channel_id, closed)
    [edit] = await _events(sessions, kinds.POST_EDITED)
    assert edit.payload["changes"] == ["poll"]


async def test_a_partial_sighting_never_erases_what_the_api_gave(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    await _see(sessions, channel_id, _post())
    # The web preview shows the text, the link, a photo without its id, and nothing else.
    web = PostSeen(
        message_id=10,
        date=T0,
        text="Подпись к видео",
        media_kind="photo",
        entities=(LINK,),
        media=MediaSeen("photo"),
        partial=True,
    )
    assert await _see(sessions, channel_id, web) == []
    async with sessions() as s:
        post = await s.scalar(select(Post))
    assert post is not None and post.details["media"]["tg_id"] == 5001
    assert post.details["forward"]["from_name"] == "Совет матерей"
    moved = replace(web, entities=(replace(LINK, url="https://moved.example"),))
    assert len(await _see(sessions, channel_id, moved)) == 1
    [edit] = await _events(sessions, kinds.POST_EDITED)
    assert edit.payload["changes"] == ["links"]


async def test_an_album_deleted_together_is_one_event(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    album = [
        replace(_post(), message_id=20 + i, grouped_id=77, text="Подпись" if i else "")
        for i in range(2)
    ]
    await _see(sessions, channel_id, *album)
    rec = await transaction(sessions, lambda s: changes.observe_deleted(s, channel_id, [20, 21]))
    assert len(rec.event_ids) == 1
    [deleted] = await _events(sessions, kinds.POST_DELETED)
    assert deleted.payload["album_size"] == 2 and deleted.payload["text"] == "Подпись"
    assert deleted.payload["media"]["kind"] == "photo"


async def test_a_new_channel_photo_is_an_event_and_both_avatars_are_queued(
    sessions: SessionMaker,
) -> None:
    channel_id = await watched_channel(sessions)

    def seen(photo_id: int | None, at: datetime) -> ChannelSeen:
        return ChannelSeen(
            tg_id=1001,
            observed_at=at,
            title="Путь домой",
            photo_id=photo_id,
            photo_known=True,
            fake=False,
            scam=False,
            verified=False,
            restricted=False,
            restrictions=(),
        )

    for photo_id, at in (
        (900, T0),
        (900, T0),
        (901, T0 + timedelta(hours=1)),
        (None, T0 + timedelta(hours=2)),
    ):
        await transaction(
            sessions, lambda s, p=photo_id, a=at: changes.observe_channel(s, channel_id, seen(p, a))
        )
    photos = await _events(sessions, kinds.PHOTO_CHANGED)
    assert [(e.payload["before"], e.payload["after"]) for e in photos] == [(900, 901), (901, None)]
    async with sessions() as s:
        queued = sorted(
            await s.scalars(select(MediaFile.tg_id).where(MediaFile.role == "channel_photo"))
        )
    assert queued == [900, 901]


def test_changes_are_named_in_a_fixed_order() -> None:
    before = {"entities": [{"kind": "texturl", "url": "a"}], "media": {"kind": "photo", "tg_id": 1}}
    after = {"entities": [{"kind": "texturl", "url": "b"}], "media": {"kind": "video", "tg_id": 2}}
    assert content.changes("x", before, "y", after) == ["text", "links", "media_replaced"]
    assert content.changes("x", before, "x", before) == []


async def test_export_carries_every_part_in_jsonl_and_csv(sessions: SessionMaker) -> None:
    channel_id = await watched_channel(sessions)
    await _see(sessions, channel_id, _post())
    await _see(sessions, channel_id, replace(_post(), text="Новая подпись", edit_date=T0))
    async with sessions() as s:
        channel = await s.get(Channel, channel_id)
        assert channel is not None
        jsonl, table = io.StringIO(), io.StringIO()
        await export.write(s, channel, "jsonl", jsonl)
        await export.write(s, channel, "csv", table)
    [post] = [r for r in map(json.loads, jsonl.getvalue().splitlines()) if r["record"] == "post"]
    assert post["details"]["entities"][0]["url"] == "https://example.org/petition"
    assert post["details"]["forward"]["from_name"] == "Совет матерей"
    assert [v["text"] for v in post["versions"]] == ["Подпись к видео", "Новая подпись"]
    assert post["versions"][0]["details"]["media"]["tg_id"] == 5001
    assert post["media"][0]["status"] == "pending" and post["media"][0]["size"] == 120_000
    [row] = [r for r in csv.DictReader(io.StringIO(table.getvalue())) if r["record"] == "post"]
    assert json.loads(row["details"])["reply_to"] == 3
    assert json.loads(row["versions"])[1]["text"] == "Новая подпись"


async def test_the_log_states_what_a_post_showed_and_verify_finds_a_changed_link(
    sessions: SessionMaker,
) -> None:
    channel_id = await watched_channel(sessions)
    await _see(sessions, channel_id, _post())
    async with sessions() as s:
        [logged] = [
            json.loads(r.record) for r in await s.scalars(select(LogRecord)) if r.type == "post"
        ]
    assert logged["details"]["entities"][0]["url"] == "https://example.org/petition"
    assert logged["details"]["forward"]["from_name"] == "Совет матерей"
    async with sessions() as s:
        assert (await ledger.check_db(s))[0] == []
        post = await s.scalar(select(Post))
        assert post is not None
        # Someone swaps the hidden link's target in the database, text untouched.
        post.details = {**post.details, "entities": [{**LINK.__dict__, "url": "https://evil"}]}
        await s.commit()
    async with sessions() as s:
        problems, _ = await ledger.check_db(s)
    assert len(problems) == 1 and "post 10 of @putdomoi" in problems[0]
    assert "differs from logged version 1" in problems[0]
