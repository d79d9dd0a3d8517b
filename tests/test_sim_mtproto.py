"""The simulated MTProto world, exercised through Telethon's own client code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest
from telethon import errors, events, functions, types
from telethon.sessions import StringSession

from simulator.mtproto import (
    AsyncControlClient,
    ControlError,
    ManualClock,
    SimulatorNotImplementedError,
    World,
    WorldError,
    WorldProcess,
    WorldServer,
    make_simulated_client,
)
from tests.support import eventually

UTC = dt.UTC


@pytest.fixture
def world() -> World:
    return World(seed=7)


@pytest.fixture
def channel(world):
    return world.create_channel(
        username="putdomoi", title="Путь домой", about="Жёны и матери", participants=50_000
    )


@pytest.fixture
async def client(world):
    c = make_simulated_client(world)
    await c.connect()
    yield c
    await c.disconnect()


def record(sink: list, convert=lambda ev: ev):
    """An async event handler (Telethon awaits callbacks) appending to ``sink``."""

    async def handler(event):
        sink.append(convert(event))

    return handler


def names(world: World) -> list[str]:
    return [name for _ts, name in world.requests_log]


# ---------------------------------------------------------------------------- connect, entities


async def test_connect_answers_telethon_handshake_and_get_me(world, client):
    me = await client.get_me()
    assert isinstance(me, types.User) and me.is_self
    assert me.id == world.account("main").user.id
    assert await client.is_user_authorized()
    assert names(world)[:4] == [
        "GetConfigRequest",
        "GetUsersRequest",
        "GetStateRequest",
        "GetDifferenceRequest",
    ]
    ts, _name = world.requests_log[0]
    assert isinstance(ts, float)


async def test_unauthorized_account_looks_logged_out(world):
    world.add_account("nobody", authorized=False)
    c = make_simulated_client(world, account="nobody")
    await c.connect()
    try:
        assert await c.get_me() is None
        assert not await c.is_user_authorized()
    finally:
        await c.disconnect()


async def test_get_entity_resolves_once_then_uses_the_cache(world, channel, client):
    entity = await client.get_entity("putdomoi")
    assert isinstance(entity, types.Channel)
    assert (entity.id, entity.access_hash, entity.title) == (
        channel.id,
        channel.access_hash,
        "Путь домой",
    )
    assert entity.broadcast and entity.left and not entity.fake
    assert world.count_requests("ResolveUsernameRequest") == 1

    # Cached: the username, the marked id and the id+hash need no more resolving.
    assert (await client.get_input_entity("putdomoi")).channel_id == channel.id
    assert (await client.get_entity(-1000000000000 - channel.id)).id == channel.id
    assert (await client.get_entity(types.PeerChannel(channel.id))).id == channel.id
    assert world.count_requests("ResolveUsernameRequest") == 1
    assert world.count_requests("GetChannelsRequest") == 2

    # Telethon's get_entity(<str>) itself always resolves again: store id + access_hash.
    await client.get_entity("@putdomoi")
    assert world.count_requests("ResolveUsernameRequest") == 2


async def test_sessions_survive_a_restart(world, channel, tmp_path):
    # StringSession keeps the (fake) auth key: the account is still logged in.
    first = make_simulated_client(world)
    await first.connect()
    await first.disconnect()
    again = make_simulated_client(world, StringSession(first.session.save()))
    await again.connect()
    try:
        assert await again.is_user_authorized()
    finally:
        await again.disconnect()

    # A session file also keeps entities: no second resolve after a restart.
    path = str(tmp_path / "collector.session")
    first = make_simulated_client(world, path)
    await first.connect()
    await first.get_entity("putdomoi")
    await first.disconnect()
    again = make_simulated_client(world, path)
    await again.connect()
    try:
        assert (await again.get_input_entity("putdomoi")).access_hash == channel.access_hash
        assert world.count_requests("ResolveUsernameRequest") == 1
    finally:
        await again.disconnect()


async def test_users_and_bots_come_back_as_users(world, client):
    person = world.create_user("some_person")
    bot = world.create_bot("some_news_bot")
    got_person = await client.get_entity("some_person")
    got_bot = await client.get_entity("some_news_bot")
    assert isinstance(got_person, types.User) and not got_person.bot
    assert isinstance(got_bot, types.User) and got_bot.bot
    assert (got_person.id, got_bot.id) == (person.id, bot.id)


async def test_username_errors(world, client):
    with pytest.raises(errors.UsernameNotOccupiedError):
        await client(functions.contacts.ResolveUsernameRequest("nosuchchannel"))
    with pytest.raises(errors.UsernameInvalidError):
        await client(functions.contacts.ResolveUsernameRequest("a!b"))
    # Telethon turns the not-occupied error into ValueError in get_entity.
    with pytest.raises(ValueError) as info:
        await client.get_entity("nosuchchannel")
    assert isinstance(info.value.__cause__, errors.UsernameNotOccupiedError)


async def test_wrong_access_hash_is_channel_invalid(channel, client):
    with pytest.raises(errors.ChannelInvalidError):
        await client(functions.channels.GetChannelsRequest([types.InputChannel(channel.id, 123)]))


async def test_full_channel_about_and_participants(world, channel, client):
    entity = await client.get_entity("putdomoi")
    full = await client(functions.channels.GetFullChannelRequest(entity))
    assert isinstance(full.full_chat, types.ChannelFull)
    assert (full.full_chat.about, full.full_chat.participants_count) == ("Жёны и матери", 50_000)
    world.set_about(channel.id, "new about")
    world.set_participants(channel.id, 49_000)
    full = await client(functions.channels.GetFullChannelRequest(entity))
    assert (full.full_chat.about, full.full_chat.participants_count) == ("new about", 49_000)


async def test_labels_and_restrictions_in_get_channels(world, channel, client):
    entity = await client.get_entity("putdomoi")
    world.set_label(channel.id, fake=True, verified=True)
    world.restrict(channel.id, "android", "porn", "Unavailable on Android")
    world.restrict(channel.id, "ios", "porn", "Unavailable on iOS")
    [got] = (await client(functions.channels.GetChannelsRequest([entity]))).chats
    assert got.fake and got.verified and not got.scam and got.restricted
    assert [(r.platform, r.reason, r.text) for r in got.restriction_reason] == [
        ("android", "porn", "Unavailable on Android"),
        ("ios", "porn", "Unavailable on iOS"),
    ]
    world.unrestrict(channel.id, "android")
    [got] = (await client(functions.channels.GetChannelsRequest([entity]))).chats
    assert [r.platform for r in got.restriction_reason] == ["ios"]
    world.unrestrict(channel.id)
    world.set_label(channel.id, fake=False)
    [got] = (await client(functions.channels.GetChannelsRequest([entity]))).chats
    assert not got.restricted and not got.restriction_reason and not got.fake


# ---------------------------------------------------------------------------- history


def _posts(world, channel, n: int, start: dt.datetime | None = None) -> list[int]:
    start = start or dt.datetime(2024, 1, 1, tzinfo=UTC)
    return [
        world.post(channel.id, f"post {i}", date=start + dt.timedelta(minutes=i)) for i in range(n)
    ]


async def test_iter_messages_min_id_returns_exactly_the_newer_posts(world, channel, client):
    ids = _posts(world, channel, 250)  # several 100-message pages
    x = ids[37]
    got = [m.id async for m in client.iter_messages("putdomoi", min_id=x, wait_time=0)]
    assert got == sorted((i for i in ids if i > x), reverse=True)

    rev = [
        m.id async for m in client.iter_messages(channel.id, min_id=x, reverse=True, wait_time=0)
    ]
    assert rev == [i for i in ids if i > x]

    limited = [m.id async for m in client.iter_messages(channel.id, 5, min_id=x, reverse=True)]
    assert limited == [i for i in ids if i > x][:5]

    between = [m.id async for m in client.iter_messages(channel.id, min_id=ids[10], max_id=ids[15])]
    assert between == [ids[14], ids[13], ids[12], ids[11]]


async def test_history_starts_with_the_channel_create_service_message(channel, client):
    world_ids = [m async for m in client.iter_messages("putdomoi")]
    [service] = world_ids
    assert isinstance(service, types.MessageService)
    assert isinstance(service.action, types.MessageActionChannelCreate)
    assert service.id == 1


async def test_get_history_offsets_as_telegram(world, channel, client):
    ids = _posts(world, channel, 30)  # ids 2..31
    entity = await client.get_input_entity("putdomoi")

    async def history(**kw):
        args = {
            "offset_id": 0,
            "offset_date": None,
            "add_offset": 0,
            "limit": 100,
            "max_id": 0,
            "min_id": 0,
            "hash": 0,
            **kw,
        }
        r = await client(functions.messages.GetHistoryRequest(entity, **args))
        assert isinstance(r, types.messages.ChannelMessages)
        assert r.count == 31 and r.pts == channel.pts
        return [m.id for m in r.messages]

    assert await history(offset_id=10, limit=3) == [9, 8, 7]
    assert await history(offset_id=10, add_offset=-3, limit=3) == [12, 11, 10]
    assert await history(offset_id=10, add_offset=2, limit=3) == [7, 6, 5]
    assert await history(offset_id=3, add_offset=-100, limit=100) == list(range(31, 2, -1))
    assert await history(limit=3) == [31, 30, 29]
    assert await history(min_id=5, max_id=9) == [8, 7, 6]
    assert await history(limit=500) == list(range(31, 0, -1))  # capped at 100, 31 exist
    # offset_date: strictly older than the date (post i is at minute i, id i + 2)
    cut = dt.datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
    assert await history(offset_date=cut, limit=3) == [11, 10, 9]
    by_date = [m.id async for m in client.iter_messages(entity, offset_date=cut, limit=2)]
    assert by_date == [11, 10]
    assert ids[0] == 2


async def test_get_messages_by_ids_gives_none_for_deleted(world, channel, client):
    a, b, c = _posts(world, channel, 3)
    world.delete(channel.id, [b])
    got = await client.get_messages("putdomoi", ids=[a, b, c, 9999])
    assert [m.id if m else None for m in got] == [a, None, c, None]
    assert (await client.get_messages("putdomoi", ids=b)) is None


async def test_message_views_and_counters(world, channel, client):
    a = world.post(channel.id, "counted", views=10, forwards=2, reactions={"👍": 5, "🔥": 1})
    world.set_views(channel.id, a, 150, forwards=7, reactions=9)
    entity = await client.get_input_entity("putdomoi")
    r = await client(functions.messages.GetMessagesViewsRequest(entity, [a, 999], False))
    assert (r.views[0].views, r.views[0].forwards) == (150, 7)
    assert r.views[1].views is None
    msg = await client.get_messages(entity, ids=a)
    assert (msg.views, msg.forwards) == (150, 7)
    assert [(rc.reaction.emoticon, rc.count) for rc in msg.reactions.results] == [("👍", 9)]
    await client(functions.messages.GetMessagesViewsRequest(entity, [a], True))
    assert world.channel(channel.id).posts[a].views == 151


async def test_media_kinds_and_download(world, channel, client):
    p = world.post(channel.id, "photo", media="photo")
    v = world.post(channel.id, "video", media="video")
    d = world.post(channel.id, "doc", media={"kind": "document", "file_name": "report.pdf"})
    album = world.post_album(
        channel.id, [{"text": "1", "media": "photo"}, {"text": "2", "media": "photo"}]
    )
    msgs = {m.id: m for m in await client.get_messages("putdomoi", ids=[p, v, d, *album])}
    assert isinstance(msgs[p].media, types.MessageMediaPhoto) and msgs[p].photo
    assert msgs[v].video is not None and msgs[v].file.mime_type == "video/mp4"
    assert msgs[d].document is not None and msgs[d].file.name == "report.pdf"
    assert msgs[album[0]].grouped_id == msgs[album[1]].grouped_id is not None
    data = await client.download_media(msgs[p], file=bytes)
    assert len(data) == world.media[msgs[p].photo.id].size


# ---------------------------------------------------------------------------- live updates


async def _join(client, username="putdomoi"):
    entity = await client.get_entity(username)
    await client(functions.channels.JoinChannelRequest(entity))
    return entity


async def test_live_updates_reach_telethon_event_handlers(world, channel, client):
    seen: list[tuple] = []

    @client.on(events.NewMessage)
    async def on_new(ev):
        seen.append(("new", ev.chat_id, ev.message.id, ev.raw_text))

    @client.on(events.MessageEdited)
    async def on_edit(ev):
        seen.append(("edit", ev.message.id, ev.raw_text, ev.message.edit_date is not None))

    @client.on(events.MessageDeleted)
    async def on_delete(ev):
        seen.append(("delete", ev.chat_id, ev.deleted_ids))

    @client.on(events.Raw(types.UpdateChannel))
    async def on_channel(update):
        seen.append(("channel", update.channel_id))

    await _join(client)
    marked = -1000000000000 - channel.id
    a = world.post(channel.id, "первый")
    await eventually(lambda: len(seen) >= 1)
    world.edit(channel.id, a, "первый (исправлено)")
    await eventually(lambda: len(seen) >= 2)
    world.delete(channel.id, [a])
    await eventually(lambda: len(seen) >= 3)
    world.set_label(channel.id, fake=True)
    await eventually(lambda: len(seen) >= 4)
    assert seen == [
        ("new", marked, a, "первый"),
        ("edit", a, "первый (исправлено)", True),
        ("delete", marked, [a]),
        ("channel", channel.id),
    ]
    assert "GetChannelDifferenceRequest" not in names(world)


async def test_only_joined_accounts_get_pushes(world, channel):
    joined = make_simulated_client(world, account="joined")
    lurker = make_simulated_client(world, account="lurker")
    got: dict[str, list[int]] = {"joined": [], "lurker": []}
    for name, c in (("joined", joined), ("lurker", lurker)):
        await c.connect()
        c.add_event_handler(record(got[name], lambda ev: ev.message.id), events.NewMessage)
        await c.get_entity("putdomoi")
    try:
        await joined(
            functions.channels.JoinChannelRequest(await joined.get_input_entity("putdomoi"))
        )
        mid = world.post(channel.id, "news")
        await eventually(lambda: got["joined"] == [mid])
        await asyncio.sleep(0.05)
        assert got["lurker"] == []
        # The lurker has to poll.
        assert [m.id async for m in lurker.iter_messages("putdomoi", min_id=1)] == [mid]
    finally:
        await joined.disconnect()
        await lurker.disconnect()


async def test_rename_posts_a_service_message_and_update_channel(world, channel, client):
    actions: list = []
    client.add_event_handler(record(actions, lambda ev: ev.new_title), events.ChatAction)
    raw: list = []
    client.add_event_handler(record(raw), events.Raw(types.UpdateChannel))
    await _join(client)
    world.rename(channel.id, "Путь домой (архив)")
    await eventually(lambda: actions and raw)
    assert actions == ["Путь домой (архив)"]
    [chat] = raw[0]._entities.values()
    assert chat.title == "Путь домой (архив)"


async def test_pts_gap_makes_telethon_fetch_channel_difference(world, channel, client):
    seen: list[str] = []
    client.add_event_handler(record(seen, lambda ev: ev.raw_text), events.NewMessage)
    await _join(client)
    world.post(channel.id, "A")
    await eventually(lambda: seen == ["A"])
    world.post(channel.id, "B (push lost)", push=False)
    world.post(channel.id, "C")
    await eventually(lambda: len(seen) == 3)
    assert seen == ["A", "B (push lost)", "C"]
    assert world.count_requests("GetChannelDifferenceRequest") == 1


async def test_telethon_drops_edits_and_deletes_that_arrive_through_a_difference(
    world, channel, client
):
    """Telethon 1.45 applies ChannelDifference.other_updates against the *final* pts, so
    edits and deletions recovered after a gap never reach event handlers. The collector
    must reconcile by re-fetching known ids (DESIGN: "Deletion updates are unreliable")."""
    seen: list[tuple] = []
    client.add_event_handler(record(seen, lambda ev: ("new", ev.raw_text)), events.NewMessage)
    client.add_event_handler(record(seen, lambda ev: ("edit", ev.raw_text)), events.MessageEdited)
    client.add_event_handler(
        record(seen, lambda ev: ("del", ev.deleted_ids)), events.MessageDeleted
    )
    await _join(client)
    a = world.post(channel.id, "A")
    b = world.post(channel.id, "B")
    await eventually(lambda: len(seen) == 2)
    world.edit(channel.id, a, "A edited", push=False)
    world.delete(channel.id, [b], push=False)
    world.post(channel.id, "C")
    await eventually(lambda: len(seen) == 3)
    await asyncio.sleep(0.1)
    assert seen == [("new", "A"), ("new", "B"), ("new", "C")]
    assert world.count_requests("GetChannelDifferenceRequest") == 1
    # ...while re-fetching shows the truth.
    got = await client.get_messages("putdomoi", ids=[a, b])
    assert got[0].raw_text == "A edited" and got[1] is None


async def test_get_channel_difference_answers(world, channel, client):
    entity = await client.get_input_entity("putdomoi")
    ich = types.InputChannel(entity.channel_id, entity.access_hash)

    async def diff(pts, limit=100):
        return await client(
            functions.updates.GetChannelDifferenceRequest(
                channel=ich, filter=types.ChannelMessagesFilterEmpty(), pts=pts, limit=limit
            )
        )

    start = channel.pts
    empty = await diff(start)
    assert isinstance(empty, types.updates.ChannelDifferenceEmpty) and empty.pts == start

    a = world.post(channel.id, "a")
    b = world.post(channel.id, "b")
    world.edit(channel.id, a, "a2")
    world.delete(channel.id, [b])
    world.post(channel.id, "c")
    d = await diff(start)
    assert isinstance(d, types.updates.ChannelDifference) and d.final
    assert d.pts == channel.pts == start + 5
    assert [m.message for m in d.new_messages] == ["a2", "c"]  # current versions
    assert [type(u).__name__ for u in d.other_updates] == ["UpdateDeleteChannelMessages"]
    assert d.other_updates[0].messages == [b] and d.other_updates[0].pts == start + 4

    d = await diff(start + 2)  # after a and b: the edit is an other_update now
    assert [type(u).__name__ for u in d.other_updates] == [
        "UpdateEditChannelMessage",
        "UpdateDeleteChannelMessages",
    ]
    assert [m.message for m in d.new_messages] == ["c"]

    too_long = await diff(start, limit=2)
    assert isinstance(too_long, types.updates.ChannelDifferenceTooLong)
    assert too_long.dialog.pts == channel.pts

    with pytest.raises(errors.PersistentTimestampInvalidError):
        await diff(channel.pts + 10)


async def test_min_channel_in_update_channel(world, channel, client):
    updates: list = []
    client.add_event_handler(record(updates), events.Raw(types.UpdateChannel))
    await _join(client)
    world.set_min_channel_updates(channel.id, True)
    world.set_label(channel.id, scam=True)
    await eventually(lambda: updates)
    [chat] = updates[0]._entities.values()
    assert chat.min and chat.scam is not True and chat.restriction_reason is None
    # A refetch gives the full picture; the min hash did not poison the cache.
    [full] = (
        await client(
            functions.channels.GetChannelsRequest([await client.get_input_entity(channel.id)])
        )
    ).chats
    assert full.scam and not full.min


async def test_receive_updates_false_gets_no_pushes(world, channel):
    c = make_simulated_client(world, receive_updates=False)
    seen: list = []
    c.add_event_handler(record(seen), events.NewMessage)
    await c.connect()
    try:
        await _join(c)
        world.post(channel.id, "quiet")
        await asyncio.sleep(0.05)
        assert seen == []
    finally:
        await c.disconnect()


async def test_dialogs_list_joined_channels(world, channel, client):
    other = world.create_channel(username="otherchan", title="Other")
    world.post(other.id, "x")
    await _join(client)
    await _join(client, "otherchan")
    dialogs = await client.get_dialogs()
    assert {d.entity.id for d in dialogs} == {channel.id, other.id}


# ---------------------------------------------------------------------------- flood waits


async def test_flood_wait_raises_with_seconds_over_threshold(world, channel):
    c = make_simulated_client(world, flood_sleep_threshold=0)
    await c.connect()
    try:
        entity = await c.get_entity("putdomoi")
        world.flood_wait("ResolveUsernameRequest", 30)
        with pytest.raises(errors.FloodWaitError) as info:
            await c.get_entity("putdomoi")
        assert info.value.seconds == 30
        # Other request types still work.
        assert (await c.get_entity(types.PeerChannel(entity.id))).id == channel.id
        assert await c.get_messages(entity, limit=1)
    finally:
        await c.disconnect()


async def test_short_flood_wait_is_slept_through_by_telethon(world, channel, client):
    world.post(channel.id, "x")
    world.flood_wait("GetHistoryRequest", 1)
    t0 = time.monotonic()
    msgs = await client.get_messages("putdomoi", limit=1)
    assert time.monotonic() - t0 >= 0.9
    assert [m.raw_text for m in msgs] == ["x"]
    assert world.count_requests("GetHistoryRequest") == 2


async def test_rate_limit_models_natural_flood_control(channel):
    clock = ManualClock()
    world = World(now=clock)
    world.create_channel(username="putdomoi", title="t")
    world.create_channel(username="second", title="t")
    world.rate_limit("ResolveUsernameRequest", calls=1, per=60)
    c = make_simulated_client(world, flood_sleep_threshold=0)
    await c.connect()
    try:
        await c.get_entity("putdomoi")
        clock.advance(20)
        with pytest.raises(errors.FloodWaitError) as info:
            await c(functions.contacts.ResolveUsernameRequest("second"))
        assert info.value.seconds == 40
        clock.advance(41)
        c._flood_waited_requests.clear()  # Telethon remembers the wait in real time
        assert (await c(functions.contacts.ResolveUsernameRequest("second"))).chats
    finally:
        await c.disconnect()


# ---------------------------------------------------------------------------- availability


async def test_make_private_locks_out_non_members_only(world, channel):
    member = make_simulated_client(world, account="member")
    outsider = make_simulated_client(world, account="outsider")
    await member.connect()
    await outsider.connect()
    try:
        await _join(member)
        await outsider.get_entity("putdomoi")
        world.post(channel.id, "still here")
        world.make_private(channel.id)
        with pytest.raises(errors.ChannelPrivateError):
            await outsider.get_messages("putdomoi", limit=1)
        with pytest.raises(errors.ChannelPrivateError):
            await outsider(
                functions.channels.GetChannelsRequest([await outsider.get_input_entity(channel.id)])
            )
        with pytest.raises(errors.UsernameNotOccupiedError):
            await outsider(functions.contacts.ResolveUsernameRequest("putdomoi"))
        assert [m.raw_text for m in await member.get_messages(channel.id, limit=1)] == [
            "still here"
        ]
        world.make_public(channel.id, "putdomoi2")
        assert (await outsider.get_entity("putdomoi2")).id == channel.id
    finally:
        await member.disconnect()
        await outsider.disconnect()


async def test_ban_gives_channel_forbidden_and_restore_undoes_it(world, channel, client):
    entity = await _join(client)
    world.ban(channel.id)
    [got] = (await client(functions.channels.GetChannelsRequest([entity]))).chats
    assert isinstance(got, types.ChannelForbidden) and got.id == channel.id
    with pytest.raises(errors.ChannelPrivateError):
        await client.get_messages(entity, limit=1)
    with pytest.raises(errors.ChannelPrivateError):
        await client(functions.channels.JoinChannelRequest(entity))
    world.restore(channel.id)
    [got] = (await client(functions.channels.GetChannelsRequest([entity]))).chats
    assert isinstance(got, types.Channel) and got.left  # membership is not restored


async def test_deleted_channel_is_private_and_releases_its_username(world, channel, client):
    entity = await client.get_entity("putdomoi")
    world.delete_channel(channel.id)
    with pytest.raises(errors.ChannelPrivateError):
        await client(functions.channels.GetChannelsRequest([entity]))
    with pytest.raises(errors.UsernameNotOccupiedError):
        await client(functions.contacts.ResolveUsernameRequest("putdomoi"))
    world.restore(channel.id)
    assert (await client.get_entity("putdomoi")).id == channel.id


async def test_channels_too_much_after_500_joins(world, client):
    chans = [world.create_channel(username=f"chan{i:04d}", title=f"c{i}") for i in range(501)]
    for ch in chans[:500]:
        await client(
            functions.channels.JoinChannelRequest(types.InputChannel(ch.id, ch.access_hash))
        )
    with pytest.raises(errors.ChannelsTooMuchError):
        await client(
            functions.channels.JoinChannelRequest(
                types.InputChannel(chans[500].id, chans[500].access_hash)
            )
        )
    # Leaving frees a slot.
    await client(
        functions.channels.LeaveChannelRequest(
            types.InputChannel(chans[0].id, chans[0].access_hash)
        )
    )
    await client(
        functions.channels.JoinChannelRequest(
            types.InputChannel(chans[500].id, chans[500].access_hash)
        )
    )


async def test_unknown_requests_fail_loudly_naming_the_request(client):
    with pytest.raises(SimulatorNotImplementedError) as info:
        await client(functions.messages.GetDialogFiltersRequest())
    assert isinstance(info.value, errors.RPCError)
    assert isinstance(info.value, NotImplementedError)
    assert "messages.GetDialogFiltersRequest" in info.value.message


async def test_injected_errors_use_telethons_exception_classes(world, channel, client):
    world.fail("GetHistoryRequest", "CHANNEL_PRIVATE")
    with pytest.raises(errors.ChannelPrivateError):
        await client.get_messages("putdomoi", limit=1)
    assert await client.get_messages("putdomoi", limit=1)


async def test_disconnect_clients_then_reconnect_and_catch_the_gap(world, channel, client):
    seen: list[str] = []
    client.add_event_handler(record(seen, lambda ev: ev.raw_text), events.NewMessage)
    await _join(client)
    world.post(channel.id, "before")
    await eventually(lambda: seen == ["before"])

    assert world.disconnect_clients() == 1
    assert not client.is_connected()
    with pytest.raises(ConnectionError):
        await client.disconnected
    with pytest.raises(ConnectionError):
        await client.get_me()
    world.post(channel.id, "while away")  # nobody to push to

    await client.connect()
    world.post(channel.id, "after")
    await eventually(lambda: len(seen) == 3)
    assert seen == ["before", "while away", "after"]


def test_world_script_errors_are_clear(world, channel):
    with pytest.raises(WorldError):
        world.channel(123)
    with pytest.raises(WorldError):
        world.create_channel(username="putdomoi", title="dup")
    with pytest.raises(WorldError):
        world.edit(channel.id, 999, "x")
    assert world.channel("@putdomoi") is channel


# ---------------------------------------------------------------------------- remote mode


async def test_remote_round_trip_and_control_connection(world, channel):
    async with WorldServer(world) as server:
        c = make_simulated_client(server.url + "?account=collector")
        seen: list[str] = []
        c.add_event_handler(record(seen, lambda ev: ev.raw_text), events.NewMessage)
        await c.connect()
        try:
            assert (await c.get_me()).id == world.account("collector").user.id
            world.post(channel.id, "one")
            entity = await c.get_entity("putdomoi")
            assert entity.access_hash == channel.access_hash
            assert [m.raw_text async for m in c.iter_messages(entity, min_id=1)] == ["one"]
            assert await c.get_messages(entity, ids=[999]) == [None]
            await c(functions.channels.JoinChannelRequest(entity))

            async with AsyncControlClient(server.url) as ctl:
                mid = await ctl.post("putdomoi", "from control")
                assert isinstance(mid, int)
                await eventually(lambda: seen == ["from control"])
                info = await ctl.describe(channel.id)
                assert info["top_message_id"] == mid and info["username"] == "putdomoi"
                await ctl.flood_wait("GetHistoryRequest", 100)
                with pytest.raises(ControlError):
                    await ctl.call("no_such_op")
            with pytest.raises(errors.FloodWaitError) as info:
                await c.get_messages(entity, limit=1)
            assert info.value.seconds == 100
            with pytest.raises(SimulatorNotImplementedError):
                await c(functions.messages.GetDialogFiltersRequest())
            assert world.count_requests("ResolveUsernameRequest", account="collector") == 1
        finally:
            await c.disconnect()


async def test_remote_disconnect_is_a_connection_error(world, channel):
    async with WorldServer(world) as server:
        c = make_simulated_client(server.url)
        await c.connect()
        try:
            await c.get_entity("putdomoi")
            world.disconnect_clients()
            await eventually(lambda: not c.is_connected())
            with pytest.raises(ConnectionError):
                await c.get_me()
            await c.connect()
            assert (await c.get_me()).is_self
        finally:
            await c.disconnect()


async def test_world_in_a_child_process(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            [
                {
                    "op": "create_channel",
                    "kwargs": {"username": "putdomoi", "title": "Путь домой"},
                    "as": "pd",
                },
                {"op": "post", "args": ["$pd", "seeded"]},
            ]
        ),
        encoding="utf-8",
    )
    with WorldProcess(seed_script=seed) as proc:
        c = make_simulated_client(proc.url, account="collector")
        seen: list[str] = []
        c.add_event_handler(record(seen, lambda ev: ev.raw_text), events.NewMessage)
        await c.connect()
        try:
            entity = await _join(c)
            assert [m.raw_text async for m in c.iter_messages(entity, min_id=1)] == ["seeded"]
            with proc.control() as ctl:  # blocking is fine: the world is another process
                ctl.post("putdomoi", "live from control")
                log = ctl.get_requests_log()
            await eventually(lambda: seen == ["live from control"])
            assert "JoinChannelRequest" in [name for _ts, name in log]
        finally:
            await c.disconnect()


async def test_install_simulator_on_a_client_built_elsewhere(world, channel):
    from telethon import TelegramClient

    from simulator.mtproto import install_simulator

    client = TelegramClient(StringSession(), 12345, "composition-root-hash")
    install_simulator(client, world, account="collector")
    await client.connect()
    try:
        assert (await client.get_entity("putdomoi")).id == channel.id
        with pytest.raises(RuntimeError):
            install_simulator(client, world)
    finally:
        await client.disconnect()
    assert world.count_requests("ResolveUsernameRequest", account="collector") == 1


async def test_access_hashes_can_be_per_account_like_telegram():
    world = World(per_account_access_hash=True)
    ch = world.create_channel(username="putdomoi", title="t")
    a = make_simulated_client(world, account="a")
    b = make_simulated_client(world, account="b")
    await a.connect()
    await b.connect()
    try:
        ea = await a.get_entity("putdomoi")
        eb = await b.get_entity("putdomoi")
        assert ea.access_hash != eb.access_hash
        assert ea.access_hash == world.access_hash_for(ch, "a")
        with pytest.raises(errors.ChannelInvalidError):  # a's hash is useless to b
            await b(
                functions.channels.GetChannelsRequest([types.InputChannel(ch.id, ea.access_hash)])
            )
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_released_username_can_be_taken_by_an_impostor(world, channel, client):
    await client.get_entity("putdomoi")
    world.delete_channel(channel.id)
    impostor = world.create_channel(username="putdomoi", title="Путь домой")
    got = await client.get_entity("putdomoi")
    assert got.id == impostor.id != channel.id
    assert world.channel("putdomoi") is impostor
    world.restore(channel.id)  # the name stays with the new owner
    assert world.channel(channel.id).username is None
