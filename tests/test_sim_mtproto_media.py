"""What a post shows, in the simulated MTProto world, read and downloaded by Telethon itself.

Every assertion goes through Telethon's own client code: ``get_messages``, the event
handlers, ``download_media`` (which picks sizes and splits downloads into parts) and
``download_profile_photo``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from telethon import errors, events, functions, types

from simulator.mtproto import (
    AsyncControlClient,
    World,
    WorldError,
    WorldProcess,
    WorldServer,
    make_simulated_client,
    utf16_len,
)
from tests.support import eventually

KIB = 1024
MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def world() -> World:
    return World(seed=11)


@pytest.fixture
def channel(world):
    return world.create_channel(username="putdomoi", title="Путь домой")


@pytest.fixture
def source(world):
    return world.create_channel(username="istochnik", title="Источник")


@pytest.fixture
async def client(world):
    c = make_simulated_client(world)
    await c.connect()
    yield c
    await c.disconnect()


async def one(client, msg_id, chat="putdomoi"):
    return await client.get_messages(chat, ids=msg_id)


def get_file_requests(world: World) -> list:
    return [r.request for r in world.request_records if r.name == "GetFileRequest"]


# ---------------------------------------------------------------------------- entities


async def test_entities_of_every_kind_with_utf16_offsets(world, channel, client):
    text = "🔥 Срочно: вдова 👩‍👧 просит помощи, подробности тут. @putdomoi #мобилизация секрет"
    mid = world.post(
        channel.id,
        text,
        entities=[
            {"type": "bold", "part": "Срочно"},
            {"type": "text_url", "part": "тут", "url": "https://example.org/hidden"},
            {"type": "mention", "part": "@putdomoi"},
            {"type": "hashtag", "part": "#мобилизация"},
            {"type": "spoiler", "part": "секрет"},
            types.MessageEntityItalic(offset=0, length=2),  # the fire emoji: 2 UTF-16 units
        ],
    )
    msg = await one(client, mid)
    kinds = [type(e).__name__ for e in msg.entities]
    assert kinds == [
        "MessageEntityBold",
        "MessageEntityTextUrl",
        "MessageEntityMention",
        "MessageEntityHashtag",
        "MessageEntitySpoiler",
        "MessageEntityItalic",
    ]
    # Offsets count UTF-16 units: the emoji before "Срочно" takes two.
    assert msg.entities[0].offset == 3
    link = msg.entities[1]
    assert link.url == "https://example.org/hidden"
    assert link.offset == utf16_len(text[: text.index("тут")])
    # Telethon cuts entity texts out with its own surrogate handling: the parts come back.
    assert [t for _e, t in msg.get_entities_text()] == [
        "Срочно",
        "тут",
        "@putdomoi",
        "#мобилизация",
        "секрет",
        "🔥",
    ]
    assert "https://example.org/hidden" in msg.text  # Telethon's markdown shows the target
    assert "https://example.org/hidden" not in msg.raw_text


async def test_entity_kinds_with_their_own_fields(world, channel, client):
    user = world.create_user("vdova_anna", "Анна")
    text = "Анна пишет код print(1) и цитату"
    mid = world.post(
        channel.id,
        text,
        entities=[
            {"type": "mentionname", "part": "Анна", "user_id": user.id},
            {"type": "pre", "part": "print(1)", "language": "python"},
            {"type": "blockquote", "part": "цитату", "collapsed": True},
            {"type": "customemoji", "offset": 0, "length": 1, "document_id": 777},
        ],
    )
    msg = await one(client, mid)
    assert msg.entities[0].user_id == user.id
    assert msg.entities[1].language == "python"
    assert msg.entities[2].collapsed is True
    assert msg.entities[3].document_id == 777


def test_entities_that_do_not_fit_are_refused(world, channel):
    with pytest.raises(WorldError, match="does not fit"):
        world.post(channel.id, "short", entities=[{"type": "bold", "offset": 3, "length": 9}])
    with pytest.raises(WorldError, match="not in the text"):
        world.post(channel.id, "short", entities=[{"type": "bold", "part": "long"}])
    with pytest.raises(WorldError, match="unknown entity type"):
        world.post(channel.id, "short", entities=[{"type": "blink", "offset": 0, "length": 1}])
    before = world.channel(channel.id).next_message_id
    with pytest.raises(WorldError):
        world.post_album(channel.id, [{"media": "photo"}, {"media": "hologram"}])
    assert world.channel(channel.id).next_message_id == before  # nothing half-posted


# ---------------------------------------------------------------------------- photos


async def test_photo_bytes_sizes_and_thumbnails(world, channel, client, tmp_path):
    data = hashlib.sha512(b"photo").digest() * 1000  # 64 000 bytes
    photo = world.photo(data, w=1280, h=960, thumb=b"small jpeg " * 100)
    mid = world.post(channel.id, "фото", media=photo)
    msg = await one(client, mid)
    p = msg.photo
    assert (p.id, p.access_hash) == (photo.id, photo.access_hash)
    assert p.file_reference == photo.file_reference
    assert [type(s).__name__ for s in p.sizes] == [
        "PhotoStrippedSize",
        "PhotoSize",
        "PhotoSizeProgressive",
    ]
    largest = p.sizes[-1]
    assert (largest.type, largest.w, largest.h, max(largest.sizes)) == ("y", 1280, 960, 64_000)
    assert msg.file.size == len(data)
    # The largest size by default, exactly the world's bytes.
    assert sha(await client.download_media(msg, file=bytes)) == sha(data)
    path = await client.download_media(msg, file=str(tmp_path / "p.jpg"))
    assert sha((tmp_path / "p.jpg").read_bytes()) == sha(data) and path.endswith("p.jpg")
    # A named thumbnail, and the inline stripped one (Telethon rebuilds a JPEG, no request).
    assert await client.download_media(msg, file=bytes, thumb="m") == b"small jpeg " * 100
    before = len(get_file_requests(world))
    inline = await client.download_media(msg, file=bytes, thumb=0)
    assert inline.startswith(b"\xff\xd8") and len(get_file_requests(world)) == before


async def test_media_named_by_kind_still_works(world, channel, client):
    mid = world.post(channel.id, "p", media={"kind": "photo", "size": 5000, "w": 800, "h": 600})
    msg = await one(client, mid)
    media = world.media[msg.photo.id]
    assert msg.photo.sizes[-1].type == "x"
    assert sha(await client.download_media(msg, file=bytes)) == world.media_sha256(media)
    assert len(world.media_bytes(media)) == 5000


# ---------------------------------------------------------------------------- documents


async def test_document_kinds_attributes_and_bytes(world, channel, client):
    v = world.video(b"V" * 20_000, duration=552.5, w=1920, h=1080, thumb=b"video thumb" * 200)
    r = world.video(b"R" * 9000, duration=12, w=384, round=True)
    g = world.gif(b"G" * 7000, duration=2.5, w=320, h=240)
    a = world.audio(b"A" * 6000, duration=200, title="Марш", performer="Хор")
    vo = world.voice(b"O" * 5000, duration=9)
    s = world.sticker(b"S" * 3000, emoji="😢")
    d = world.document(b"%PDF-1.7 " * 300, file_name="обращение.pdf")
    files = {"video": v, "round": r, "gif": g, "audio": a, "voice": vo, "sticker": s, "document": d}
    ids = {kind: world.post(channel.id, kind, media=m) for kind, m in files.items()}
    msgs = {m.raw_text: m for m in await client.get_messages("putdomoi", ids=list(ids.values()))}

    video = msgs["video"]
    assert video.video is not None and not video.video_note and not video.gif
    attr = next(x for x in video.document.attributes if isinstance(x, types.DocumentAttributeVideo))
    assert (attr.duration, attr.w, attr.h, attr.round_message) == (552.5, 1920, 1080, False)
    assert video.file.mime_type == "video/mp4" and video.file.size == 20_000
    assert video.file.duration == 552.5 and video.file.name == "video.mp4"
    assert [t.type for t in video.document.thumbs] == ["i", "m"]

    assert msgs["round"].video_note is not None and msgs["round"].media.round
    assert msgs["gif"].gif is not None
    assert msgs["audio"].audio is not None and msgs["audio"].file.title == "Марш"
    assert msgs["audio"].file.performer == "Хор"
    assert msgs["voice"].voice is not None and msgs["voice"].file.mime_type == "audio/ogg"
    assert msgs["sticker"].sticker is not None and msgs["sticker"].file.emoji == "😢"
    assert msgs["document"].file.name == "обращение.pdf"
    assert msgs["document"].file.mime_type == "application/pdf"
    assert msgs["document"].document.thumbs is None  # a plain file has no thumbnail

    for kind, media in files.items():
        got = await client.download_media(msgs[kind], file=bytes)
        assert sha(got) == media.sha256() == sha(world.media_bytes(media)), kind
    # The video's largest thumbnail (what an archive keeps of a file too big to store).
    assert await client.download_media(video, file=bytes, thumb=-1) == b"video thumb" * 200


async def test_big_file_is_served_in_parts_by_telegram_rules(world, channel, client):
    size = 3 * MIB + 5
    big = world.video(size=size, duration=551, w=1280, h=720)  # made-up bytes, made lazily
    msg = await one(client, world.post(channel.id, "видео", media=big))
    got = await client.download_media(msg, file=bytes)
    assert len(got) == size and sha(got) == world.media_sha256(big)
    parts = get_file_requests(world)
    # Telethon asks 128 KiB parts for files under 100 MB; every part obeys Telegram's rules.
    assert len(parts) == -(-size // (128 * KIB))
    for r in parts:
        assert r.offset % 4096 == 0 and r.limit % 4096 == 0 and MIB % r.limit == 0
        assert r.offset // MIB == (r.offset + r.limit - 1) // MIB


async def test_get_file_refuses_parts_telegram_refuses(world, channel, client):
    m = world.document(size=3 * MIB)
    msg = await one(client, world.post(channel.id, "doc", media=m))
    doc = msg.document
    loc = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")

    async def get(offset, limit, precise=None):
        r = await client(functions.upload.GetFileRequest(loc, offset, limit, precise=precise))
        return r.bytes

    assert await get(MIB - 4096, 4096) == world.media_bytes(m)[MIB - 4096 : MIB]
    with pytest.raises(errors.OffsetInvalidError):
        await get(1000, 4096)
    with pytest.raises(errors.LimitInvalidError):
        await get(0, 5000)  # not a multiple of 4 KiB
    with pytest.raises(errors.LimitInvalidError):
        await get(0, 3 * 4096)  # 1 MiB is not a multiple of it
    with pytest.raises(errors.LimitInvalidError):
        await get(MIB - 4096, 8192)  # crosses a megabyte boundary
    with pytest.raises(errors.LimitInvalidError):
        await get(0, 2 * MIB)
    # precise: 1 KiB alignment, any limit up to 1 MiB, boundaries may be crossed.
    assert (
        await get(MIB - 1024, 3072, precise=True) == world.media_bytes(m)[MIB - 1024 : MIB + 2048]
    )
    with pytest.raises(errors.OffsetInvalidError):
        await get(100, 1024, precise=True)
    wrong = types.InputDocumentFileLocation(doc.id, doc.access_hash + 1, doc.file_reference, "")
    with pytest.raises(errors.FileIdInvalidError):
        await client(functions.upload.GetFileRequest(wrong, 0, 4096))
    bad_thumb = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "m")
    with pytest.raises(errors.LocationInvalidError):
        await client(functions.upload.GetFileRequest(bad_thumb, 0, 4096))


# ---------------------------------------------------------------------------- failures


async def test_expired_file_reference_of_a_document_is_refreshed_by_telethon(
    world, channel, client
):
    v = world.video(b"x" * 300_000)
    msg = await one(client, world.post(channel.id, "видео", media=v))
    old_ref = msg.document.file_reference
    world.expire_file_reference(v)
    fetched = world.count_requests("GetMessagesRequest")
    got = await client.download_media(msg, file=bytes)
    assert sha(got) == v.sha256()
    # Telethon met FILE_REFERENCE_EXPIRED and re-fetched the message (channels.getMessages).
    assert world.count_requests("GetMessagesRequest") == fetched + 1
    fresh = await one(client, msg.id)
    assert fresh.document.file_reference != old_ref
    # Once: the fresh reference keeps working.
    assert sha(await client.download_media(fresh, file=bytes)) == v.sha256()


async def test_expired_file_reference_of_a_photo_reaches_the_caller(world, channel, client):
    photo = world.photo(b"p" * 10_000)
    msg = await one(client, world.post(channel.id, "фото", media=photo))
    world.expire_file_reference(photo)
    # Telethon refreshes references only for documents; for photos the caller re-fetches.
    with pytest.raises(errors.FileReferenceExpiredError):
        await client.download_media(msg, file=bytes)
    fresh = await one(client, msg.id)
    assert sha(await client.download_media(fresh, file=bytes)) == photo.sha256()


async def test_flood_wait_on_get_file(world, channel, client):
    doc = world.document(b"d" * 10_000)
    msg = await one(client, world.post(channel.id, "doc", media=doc))
    world.flood_wait("GetFileRequest", 1)
    t0 = time.monotonic()
    assert sha(await client.download_media(msg, file=bytes)) == doc.sha256()
    assert time.monotonic() - t0 >= 0.9  # Telethon slept through the short wait itself
    world.flood_wait("GetFileRequest", 120)
    with pytest.raises(errors.FloodWaitError) as info:
        await client.download_media(msg, file=bytes)
    assert info.value.seconds == 120


# ---------------------------------------------------------------------------- post shapes


async def test_album_forwarded_from_a_channel_with_reply_and_author(world, channel, source, client):
    original = world.post(source.id, "оригинал", author="Мария", date="2026-11-30T10:00:00+00:00")
    first = world.post(channel.id, "до")
    photo, video = world.photo(b"P" * 5000), world.video(size=30 * MIB, duration=552)
    ids = world.post_album(
        channel.id,
        [
            {
                "text": "смотрите тут",
                "media": photo,
                "entities": [{"type": "texturl", "part": "тут", "url": "https://t.me/x/1"}],
                "forward_from": {"channel": source, "post": original},
                "reply_to": first,
                "author": "Редактор",
            },
            {"media": video, "forward_from": {"channel": source, "post": original}},
        ],
    )
    msgs = await client.get_messages("putdomoi", ids=ids)
    assert msgs[0].grouped_id == msgs[1].grouped_id is not None
    fwd = msgs[0].fwd_from
    assert fwd.from_id == types.PeerChannel(source.id)
    assert (fwd.channel_post, fwd.post_author) == (original, "Мария")
    assert fwd.date == world.channel(source.id).posts[original].date
    # The source channel travels in the result's chats, so Telethon resolves it.
    assert msgs[0].forward.chat.title == "Источник"
    assert msgs[0].reply_to.reply_to_msg_id == first
    assert msgs[0].post_author == "Редактор"
    assert msgs[1].file.size == 30 * MIB and msgs[1].document.thumbs[-1].type == "m"


async def test_forward_from_a_user_or_a_hidden_name(world, channel, client):
    user = world.create_user("svidetel", "Свидетель")
    a = world.post(channel.id, "от человека", forward_from=user)
    b = world.post(channel.id, "скрыт", forward_from="Аноним")
    ma, mb = await client.get_messages("putdomoi", ids=[a, b])
    assert ma.fwd_from.from_id == types.PeerUser(user.id)
    assert ma.forward.sender.first_name == "Свидетель"
    assert mb.fwd_from.from_id is None and mb.fwd_from.from_name == "Аноним"


async def test_link_preview_poll_location_and_venue(world, channel, client):
    w = world.post(
        channel.id,
        "https://example.org/article",
        webpage={"url": "https://example.org/article", "title": "Статья", "site_name": "Пример"},
    )
    p = world.post(
        channel.id,
        "",
        poll={
            "question": "Вернуть домой?",
            "answers": ["Да", "Нет"],
            "closed": True,
            "votes": [90, 10],
        },
    )
    g = world.post(channel.id, "", location=(55.75, 37.62))
    v = world.post(
        channel.id,
        "",
        venue={"lat": 55.75, "long": 37.62, "title": "Красная площадь", "address": "Москва"},
    )
    mw, mp, mg, mv = await client.get_messages("putdomoi", ids=[w, p, g, v])
    assert isinstance(mw.media, types.MessageMediaWebPage)
    assert (mw.web_preview.url, mw.web_preview.title, mw.web_preview.site_name) == (
        "https://example.org/article",
        "Статья",
        "Пример",
    )
    poll = mp.poll.poll
    assert isinstance(poll.question, types.TextWithEntities)  # layer >= 178 shape
    assert poll.question.text == "Вернуть домой?" and poll.closed
    assert [a.text.text for a in poll.answers] == ["Да", "Нет"]
    assert [r.voters for r in mp.poll.results.results] == [90, 10]
    assert isinstance(mg.media, types.MessageMediaGeo)
    assert (mg.geo.lat, mg.geo.long) == (55.75, 37.62)
    assert isinstance(mv.media, types.MessageMediaVenue) and mv.venue.title == "Красная площадь"
    with pytest.raises(WorldError, match="one media"):
        world.post(channel.id, "x", media="photo", poll={"question": "?", "answers": ["a", "b"]})


# ---------------------------------------------------------------------------- edits


async def test_edits_change_media_entities_and_link_targets(world, channel, client):
    entity = await client.get_entity("putdomoi")
    await client(functions.channels.JoinChannelRequest(entity))
    seen: list = []

    @client.on(events.MessageEdited)
    async def on_edit(ev):
        seen.append(ev.message)

    old_photo = world.photo(b"1" * 4000)
    link = {"type": "texturl", "part": "ссылка", "url": "https://a.example/"}
    mid = world.post(channel.id, "текст и ссылка", media=old_photo, entities=[link])

    new_photo = world.photo(b"2" * 4000)
    world.edit(channel.id, mid, media=new_photo)  # only the photo
    await eventually(lambda: len(seen) == 1)
    assert seen[0].photo.id == new_photo.id and seen[0].raw_text == "текст и ссылка"
    assert seen[0].entities[0].url == "https://a.example/"
    assert sha(await client.download_media(seen[0], file=bytes)) == new_photo.sha256()

    world.edit(channel.id, mid, entities=[{**link, "url": "https://b.example/"}])  # only the link
    await eventually(lambda: len(seen) == 2)
    assert seen[1].entities[0].url == "https://b.example/" and seen[1].photo.id == new_photo.id

    world.edit(channel.id, mid, entities=[{"type": "bold", "part": "текст"}])  # formatting only
    await eventually(lambda: len(seen) == 3)
    assert [type(e) for e in seen[2].entities] == [types.MessageEntityBold]

    world.edit(channel.id, mid, media=None)  # media removed, text and formatting kept
    await eventually(lambda: len(seen) == 4)
    assert seen[3].media is None and seen[3].raw_text == "текст и ссылка"

    world.edit(channel.id, mid, "новый", entities=[])
    await eventually(lambda: len(seen) == 5)
    assert seen[4].raw_text == "новый" and not seen[4].entities
    with pytest.raises(WorldError, match="does not fit"):
        world.edit(channel.id, mid, "x", entities=[{"type": "bold", "offset": 0, "length": 5}])
    assert [m.edit_date is not None for m in seen] == [True] * 5


async def test_edit_into_a_poll_replaces_the_photo(world, channel, client):
    mid = world.post(channel.id, "", media="photo")
    world.edit(channel.id, mid, poll={"question": "?", "answers": ["a", "b"]})
    msg = await one(client, mid)
    assert isinstance(msg.media, types.MessageMediaPoll)


# ---------------------------------------------------------------------------- channel photos


async def test_channel_photo_downloads_and_changes_push(world, channel, client):
    avatar = world.media[channel.photo_id]
    entity = await client.get_entity("putdomoi")
    assert entity.photo.photo_id == avatar.id
    big = await client.download_profile_photo(entity, file=bytes)
    assert sha(big) == avatar.sha256()
    small = await client.download_profile_photo(entity, file=bytes, download_big=False)
    assert sha(small) == world.media_sha256(avatar, "a") and small != big
    full = await client(functions.channels.GetFullChannelRequest(entity))
    assert full.full_chat.chat_photo.id == avatar.id

    await client(functions.channels.JoinChannelRequest(entity))
    seen: list = []

    @client.on(events.ChatAction)
    async def on_action(ev):
        seen.append(ev)

    @client.on(events.Raw(types.UpdateChannel))
    async def on_channel(update):
        seen.append(update)

    new_id = world.set_photo(channel.id, b"new avatar" * 500)
    await eventually(lambda: len(seen) == 2)
    action = next(e for e in seen if isinstance(e, events.ChatAction.Event))
    assert action.new_photo and action.photo.id == new_id
    entity = await client.get_entity(types.PeerChannel(channel.id))
    await client(functions.channels.GetChannelsRequest([entity]))
    entity = await client.get_entity(types.PeerChannel(channel.id))
    assert entity.photo.photo_id == new_id
    assert await client.download_profile_photo(entity, file=bytes) == b"new avatar" * 500


# ---------------------------------------------------------------------------- remote


async def test_remote_world_carries_entities_media_and_bytes(world, channel, source):
    async with WorldServer(world) as server:
        c = make_simulated_client(server.url + "?account=collector")
        await c.connect()
        try:
            async with AsyncControlClient(server.url) as ctl:
                photo = await ctl.photo(b"\x89remote" * 1000, w=640, h=480)
                assert photo["size"] == 7000 and photo["sha256"] == sha(b"\x89remote" * 1000)
                mid = await ctl.post(
                    "putdomoi",
                    "из другого процесса",
                    media=photo,
                    entities=[{"type": "texturl", "part": "другого", "url": "https://x.example"}],
                    forward_from={"channel": "istochnik"},
                    author="Автор",
                )
                video = await ctl.post("putdomoi", "v", media={"kind": "video", "size": 200_000})
                msg = await c.get_messages("putdomoi", ids=mid)
                assert msg.entities[0].url == "https://x.example"
                assert msg.forward.chat.username == "istochnik" and msg.post_author == "Автор"
                got = await c.download_media(msg, file=bytes)
                assert sha(got) == await ctl.media_sha256(photo["id"])
                vmsg = await c.get_messages("putdomoi", ids=video)
                assert sha(await c.download_media(vmsg, file=bytes)) == await ctl.media_sha256(
                    vmsg.document.id
                )
                await ctl.expire_file_reference(vmsg.document.id)
                assert len(await c.download_media(vmsg, file=bytes)) == 200_000
                await ctl.edit("putdomoi", mid, media=None)
                assert (await c.get_messages("putdomoi", ids=mid)).media is None
                posts = await ctl.channel_posts("putdomoi")
                row = next(p for p in posts if p["id"] == mid)
                assert row["entities"][0]["url"] == "https://x.example"
                assert row["forward"]["channel_id"] == source.id
        finally:
            await c.disconnect()


async def test_world_in_a_child_process_serves_seeded_files(tmp_path):
    avatar, picture = b"avatar!" * 300, b"\xff\xd8 seeded photo" * 400
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            [
                {"op": "create_channel", "kwargs": {"username": "putdomoi", "title": "П"}},
                {"op": "set_photo", "args": ["putdomoi", {"$bytes": b64(avatar)}]},
                {"op": "photo", "args": [{"$bytes": b64(picture)}], "as": "pic"},
                {
                    "op": "post",
                    "args": ["putdomoi", "жирный"],
                    "kwargs": {"media": "$pic", "entities": [{"type": "bold", "part": "жир"}]},
                },
            ]
        ),
        encoding="utf-8",
    )
    with WorldProcess(seed_script=seed) as proc:
        c = make_simulated_client(proc.url, account="collector")
        await c.connect()
        try:
            [msg] = await c.get_messages("putdomoi", limit=1)
            assert msg.entities == [types.MessageEntityBold(offset=0, length=3)]
            assert await c.download_media(msg, file=bytes) == picture
            entity = await c.get_entity("putdomoi")
            assert await c.download_profile_photo(entity, file=bytes) == avatar
            with proc.control() as ctl:
                assert ctl.media_sha256(msg.photo.id) == sha(picture)
                assert ctl.media_bytes(msg.photo.id) == picture  # bytes decoded on return
        finally:
            await c.disconnect()
