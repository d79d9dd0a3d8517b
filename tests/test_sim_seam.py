"""Guards the MTProto simulator seam against Telethon upgrades.

The simulator replaces ``TelegramClient._sender`` (Telethon's ``MTProtoSender``) and relies
on a handful of Telethon internals. If any assertion here fails after a Telethon upgrade,
the simulated Telegram can no longer be trusted: re-read the new
``telethon/client/telegrambaseclient.py``, ``client/users.py``, ``client/updates.py`` and
``network/mtprotosender.py``, adapt ``simulator/mtproto/sender.py``, then update these
checks and the pinned range in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path

import pytest
import telethon
from telethon import TelegramClient, errors
from telethon.client import telegrambaseclient, updates, users
from telethon.extensions import BinaryReader
from telethon.network import MTProtoSender
from telethon.sessions import StringSession
from telethon.tl import types
from telethon.tl.tlobject import TLRequest

from simulator.mtproto import SeamSender, SimulatedSender, World, make_simulated_client
from simulator.mtproto.sender import DUMMY_API_HASH, DUMMY_API_ID, TELETHON_RANGE

SEAM_BROKEN = (
    "The MTProto simulator seam does not fit this Telethon ({version}): {what}. "
    "Re-check simulator/mtproto/sender.py against Telethon's MTProtoSender/TelegramClient "
    "before trusting any test that uses the simulated Telegram."
)

# Everything TelegramClient (1.45) touches on ``self._sender``.
SEAM_ATTRIBUTES = {
    "connect",
    "disconnect",
    "is_connected",
    "disconnected",
    "send",
    "auth_key",
    "_connection",
    "_transport_connected",
    "_keepalive_ping",
}


def broken(what: str) -> str:
    return SEAM_BROKEN.format(version=telethon.__version__, what=what)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def test_telethon_version_is_in_the_pinned_range():
    low, high = (_version_tuple(bound) for bound in TELETHON_RANGE)
    version = _version_tuple(telethon.__version__)
    assert low <= version < high, broken(
        f"version outside the range the seam was written for {TELETHON_RANGE}"
    )


def test_client_still_keeps_its_sender_and_update_queue_where_the_seam_expects():
    client = TelegramClient(StringSession(), DUMMY_API_ID, DUMMY_API_HASH)
    assert isinstance(getattr(client, "_sender", None), MTProtoSender), broken(
        "TelegramClient no longer builds client._sender as an MTProtoSender"
    )
    assert isinstance(getattr(client, "_updates_queue", None), asyncio.Queue), broken(
        "client._updates_queue is gone (pushed Updates are put there)"
    )
    assert client._sender._updates_queue is client._updates_queue, broken(
        "MTProtoSender no longer feeds client._updates_queue"
    )
    for name in ("_message_box", "_mb_entity_cache", "_flood_waited_requests"):
        assert hasattr(client, name), broken(f"client.{name} is gone")


def test_client_uses_only_the_sender_attributes_the_seam_provides():
    used: set[str] = set()
    client_dir = Path(telegrambaseclient.__file__).parent
    for path in client_dir.glob("*.py"):
        used |= set(re.findall(r"self\._sender\.(\w+)", path.read_text(encoding="utf-8")))
    base_src = inspect.getsource(telegrambaseclient.TelegramBaseClient.is_connected)
    used |= set(re.findall(r"sender\.(\w+)\(", base_src))
    unknown = used - SEAM_ATTRIBUTES
    assert not unknown, broken(f"TelegramClient now uses client._sender.{sorted(unknown)}")
    for name in SEAM_ATTRIBUTES:
        assert hasattr(SeamSender, name) or name in ("auth_key", "_connection"), broken(
            f"the seam lacks {name}"
        )


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_mtprotosender_signatures_match_the_seam():
    expected = {
        "connect": ["self", "connection"],
        "disconnect": ["self"],
        "is_connected": ["self"],
        "send": ["self", "request", "ordered"],
        "_transport_connected": ["self"],
        "_keepalive_ping": ["self", "rnd_id"],
    }
    for name, params in expected.items():
        theirs = getattr(MTProtoSender, name, None)
        assert theirs is not None, broken(f"MTProtoSender.{name} is gone")
        assert _params(theirs) == params, broken(
            f"MTProtoSender.{name}{inspect.signature(theirs)} changed (seam expects {params})"
        )
        assert _params(getattr(SeamSender, name)) == params, f"seam {name} drifted"
    assert inspect.iscoroutinefunction(MTProtoSender.connect), broken("connect is not async")
    assert inspect.iscoroutinefunction(MTProtoSender.disconnect), broken("disconnect is not async")
    assert isinstance(inspect.getattr_static(MTProtoSender, "disconnected"), property), broken(
        "MTProtoSender.disconnected is no longer a property"
    )
    store = getattr(MTProtoSender, "_store_own_updates", None)
    assert store is not None and _params(store)[:2] == ["self", "obj"], broken(
        "MTProtoSender._store_own_updates(self, obj) is gone (the seam reuses it)"
    )
    src = inspect.getsource(store)
    assert "self._updates_queue" in src, broken("_store_own_updates no longer uses the queue")


def test_wire_helpers_the_seam_relies_on():
    assert _params(errors.rpc_message_to_error) == ["rpc_error", "request"], broken(
        "errors.rpc_message_to_error(rpc_error, request) changed"
    )
    err = errors.rpc_message_to_error(types.RpcError(420, "FLOOD_WAIT_30"), None)
    assert isinstance(err, errors.FloodWaitError) and err.seconds == 30, broken(
        "FLOOD_WAIT_X no longer maps to FloodWaitError"
    )
    assert hasattr(BinaryReader, "tgread_object"), broken("BinaryReader.tgread_object is gone")
    assert hasattr(TLRequest, "read_result"), broken("TLRequest.read_result is gone")


def test_client_code_paths_the_simulator_depends_on():
    connect_src = inspect.getsource(telegrambaseclient.TelegramBaseClient.connect)
    for needle in (
        "self._sender.connect(",
        "self._sender.auth_key",
        "self._sender.send(",
        "self.get_me()",
        "self._on_login(",
    ):
        assert needle in connect_src, broken(f"TelegramClient.connect no longer does {needle}")
    call_src = inspect.getsource(users.UserMethods._call)
    for needle in (
        "sender.send(request, ordered=ordered)",
        "flood_sleep_threshold",
        "FloodWaitError",
    ):
        assert needle in call_src, broken(f"TelegramClient._call no longer has {needle}")
    loop_src = inspect.getsource(updates.UpdateMethods._update_loop)
    for needle in ("self._updates_queue.get()", "process_updates", "get_channel_difference"):
        assert needle in loop_src, broken(f"the update loop no longer uses {needle}")


async def test_connect_round_trip_through_the_seam():
    world = World()
    client = make_simulated_client(world)
    sender = client._sender
    assert isinstance(sender, SimulatedSender)
    await asyncio.wait_for(client.connect(), 5)
    try:
        assert client._sender is sender, broken("connect() replaced client._sender")
        assert client.is_connected()
        assert client.session.auth_key is sender.auth_key, broken(
            "connect() no longer copies the sender's auth key into the session"
        )
        me = await asyncio.wait_for(client.get_me(), 5)
        assert me is not None and me.is_self, broken("get_me() did not come back through the seam")
        assert await client.is_user_authorized()
        assert [name for _ts, name in world.requests_log][:4] == [
            "GetConfigRequest",
            "GetUsersRequest",
            "GetStateRequest",
            "GetDifferenceRequest",
        ], broken(f"connect() now sends {world.requests_log}")
        assert not client._message_box.is_empty(), broken("the message box was not loaded")
    finally:
        await client.disconnect()
    assert not client.is_connected()


async def test_pushed_updates_reach_the_message_box_through_the_seam():
    world = World()
    ch = world.create_channel(username="seamcheck", title="seam")
    client = make_simulated_client(world)
    await client.connect()
    try:
        entity = await client.get_entity("seamcheck")
        from telethon import functions

        await client(functions.channels.JoinChannelRequest(entity))
        world.post(ch.id, "hello")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while ch.id not in client._message_box.map:
            if loop.time() > deadline:
                pytest.fail(
                    broken(
                        "a pushed UpdateNewChannelMessage never reached the "
                        "MessageBox via client._updates_queue"
                    )
                )
            await asyncio.sleep(0.01)
        assert client._message_box.map[ch.id].pts == ch.pts
    finally:
        await client.disconnect()
