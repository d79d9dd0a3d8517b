"""Simulated Telegram (MTProto side) behind Telethon's own client code.

In-process::

    world = World()
    ch = world.create_channel(username="putdomoi", title="Путь домой", participants=50_000)
    client = make_simulated_client(world)          # a real TelegramClient
    await client.connect()
    world.post(ch.id, "hello")

In another process: ``python -m simulator.mtproto --port 0`` (or ``WorldServer``), then
``make_simulated_client("tcp://127.0.0.1:PORT", account="collector")`` and
``ControlClient(url).post(ch_id, "text")`` to script the world.
"""

from .content import Media, Thumb, WorldError, utf16_len
from .handlers import SUPPORTED_REQUESTS
from .remote import (
    AsyncControlClient,
    ControlClient,
    ControlError,
    RemoteSender,
    WorldProcess,
    WorldServer,
    run_script,
)
from .sender import (
    TELETHON_RANGE,
    SeamSender,
    SimulatedSender,
    SimulatorNotImplementedError,
    install_simulator,
    make_simulated_client,
)
from .world import (
    CONTROL_OPS,
    MAX_JOINED_CHANNELS,
    Account,
    ChannelModel,
    ManualClock,
    Post,
    RpcFail,
    UserModel,
    World,
)

__all__ = [
    "CONTROL_OPS",
    "MAX_JOINED_CHANNELS",
    "SUPPORTED_REQUESTS",
    "TELETHON_RANGE",
    "Account",
    "AsyncControlClient",
    "ChannelModel",
    "ControlClient",
    "ControlError",
    "ManualClock",
    "Media",
    "Post",
    "RemoteSender",
    "RpcFail",
    "SeamSender",
    "SimulatedSender",
    "SimulatorNotImplementedError",
    "Thumb",
    "UserModel",
    "World",
    "WorldError",
    "WorldProcess",
    "WorldServer",
    "install_simulator",
    "make_simulated_client",
    "run_script",
    "utf16_len",
]
