"""The seam: a stand-in for Telethon's ``MTProtoSender`` (``client._sender``).

Pinned to Telethon >=1.45,<1.46 (``tests/test_sim_seam.py`` fails loudly if it moves).
Everything above the sender stays Telethon's own: entity caching, flood-wait sleeping
and raising, ``iter_messages``, the pts-checking ``MessageBox`` and the event handlers.

The seam keeps the wire honest: requests are serialized with ``bytes(request)`` (as
``MTProtoSender`` does), results come back as bytes read with ``request.read_result``,
errors are built with Telethon's ``rpc_message_to_error``, results that are ``Updates``
go through Telethon's own ``MTProtoSender._store_own_updates``, and pushed ``Updates``
are deserialized with ``BinaryReader.tgread_object`` before landing on
``client._updates_queue``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from telethon import TelegramClient, errors, utils
from telethon.crypto import AuthKey
from telethon.extensions import BinaryReader
from telethon.network import MTProtoSender
from telethon.sessions import StringSession
from telethon.tl import types

from .handlers import NOT_IMPLEMENTED, Reply

if TYPE_CHECKING:
    from .world import World

TELETHON_RANGE = (">=1.45", "<1.46")
DEFAULT_ACCOUNT = "main"
DUMMY_API_ID = 1
DUMMY_API_HASH = "0123456789abcdef0123456789abcdef"

_log = logging.getLogger(__name__)


# Telethon ships no type information, so its error classes are Any to mypy; this one must
# still be a real BadRequestError, the class Telethon's callers catch.
class SimulatorNotImplementedError(errors.BadRequestError, NotImplementedError):  # type: ignore[misc]
    """The simulated Telegram does not implement this request (names it in ``message``)."""

    def __init__(self, request: Any, message: str) -> None:
        # BadRequestError is next in the MRO; named, so mypy does not take NotImplementedError's.
        errors.BadRequestError.__init__(self, request=request, message=message, code=400)


def build_error(code: int, message: str, request: Any) -> Exception:
    """The exception Telethon raises for this rpc_error (same class as from Telegram)."""
    if message.startswith(NOT_IMPLEMENTED):
        return SimulatorNotImplementedError(request, message)
    error: Exception = errors.rpc_message_to_error(types.RpcError(code, message), request)
    return error


def account_auth_key(account: str) -> AuthKey:
    """A stable fake 2048-bit auth key per account, so sessions look authorized."""
    seed = f"chanwatch-simulator:{account}".encode()
    data = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(8))
    return AuthKey(data)


class SeamSender:
    """What ``TelegramClient`` needs from ``client._sender`` (Telethon 1.45)."""

    def __init__(
        self, *, account: str, auth_key: AuthKey | None, updates_queue: asyncio.Queue[Any]
    ) -> None:
        self.account = account
        self.auth_key = (
            auth_key if auth_key is not None and auth_key.key else (account_auth_key(account))
        )
        self.receive_updates = True
        self._updates_queue = updates_queue
        self._user_connected = False
        self._connection: Any = None
        self._disconnected_future: asyncio.Future[Any] | None = None
        self._pending: dict[asyncio.Future[Any], Any] = {}

    # --- the interface TelegramClient uses ------------------------------------------

    async def connect(self, connection: Any) -> bool:
        if self._user_connected:
            return False
        self._connection = connection
        await self._open()
        self._user_connected = True
        self._disconnected_future = asyncio.get_running_loop().create_future()
        return True

    def is_connected(self) -> bool:
        return self._user_connected

    async def disconnect(self) -> None:
        if not self._user_connected:
            return
        self._user_connected = False
        await self._close()
        for fut in list(self._pending):
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        if self._disconnected_future is not None and not self._disconnected_future.done():
            self._disconnected_future.set_result(None)

    @property
    def disconnected(self) -> asyncio.Future[Any]:
        if self._disconnected_future is None:
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            self._disconnected_future = fut
        return asyncio.shield(self._disconnected_future)

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if utils.is_list_like(request):
            return [self._send_one(r) for r in request]
        return self._send_one(request)

    # Used by TelegramClient._keepalive_loop every 60 s.
    def _transport_connected(self) -> bool:
        return self._user_connected

    def _keepalive_ping(self, rnd_id: int) -> None:
        pass  # the simulated link never goes stale

    # Telethon's own handling of results that carry updates (e.g. JoinChannel's Updates).
    _store_own_updates = MTProtoSender._store_own_updates

    # --- shared plumbing ----------------------------------------------------------

    def _send_one(self, request: Any) -> asyncio.Future[Any]:
        data = bytes(request)  # what MTProtoSender's RequestState does
        fut = asyncio.get_running_loop().create_future()
        self._pending[fut] = request
        self._transmit(fut, request, data)
        return fut

    def _resolve(self, fut: asyncio.Future[Any], request: Any, reply: Reply) -> None:
        self._pending.pop(fut, None)
        if fut.done():
            return
        if not reply.ok:
            fut.set_exception(build_error(reply.code, reply.message, request))
            return
        try:
            result = request.read_result(BinaryReader(reply.data))
        except Exception as e:  # noqa: BLE001 - MTProtoSender hands any error to the caller
            fut.set_exception(e)
            return
        self._store_own_updates(result)
        fut.set_result(result)

    def _push_updates(self, data: bytes) -> None:
        obj = BinaryReader(data).tgread_object()
        if getattr(obj, "SUBCLASS_OF_ID", None) != 0x8AF52AAC:  # crc32(b'Updates')
            _log.warning("simulator pushed a non-Updates object: %s", type(obj).__name__)
            return
        self._updates_queue.put_nowait(obj)

    def _fail(self, error: BaseException) -> None:
        """The link died for good (Telethon gave up reconnecting)."""
        if not self._user_connected:
            return
        self._user_connected = False
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(error)
        self._pending.clear()
        disconnected = self._disconnected_future
        if disconnected is not None and not disconnected.done():
            disconnected.set_exception(error)
            disconnected.exception()  # retrieved: awaiting client.disconnected still raises

    # --- transport hooks -----------------------------------------------------------

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    def _transmit(self, fut: asyncio.Future[Any], request: Any, data: bytes) -> None:
        raise NotImplementedError


class SimulatedSender(SeamSender):
    """In-process: the world lives in this event loop."""

    def __init__(
        self,
        world: World,
        *,
        account: str = DEFAULT_ACCOUNT,
        auth_key: AuthKey | None = None,
        updates_queue: asyncio.Queue[Any],
    ):
        super().__init__(account=account, auth_key=auth_key, updates_queue=updates_queue)
        self.world = world

    async def _open(self) -> None:
        self.world._attach(self)

    async def _close(self) -> None:
        self.world._detach(self)

    def _transmit(self, fut: asyncio.Future[Any], request: Any, data: bytes) -> None:
        reply = self.world.dispatch(self, data)
        loop = asyncio.get_running_loop()
        if self.world.latency > 0:
            loop.call_later(self.world.latency, self._resolve, fut, request, reply)
        else:
            loop.call_soon(self._resolve, fut, request, reply)

    # WorldConnection
    def deliver(self, updates: Any) -> None:
        if self._user_connected:
            self._push_updates(bytes(updates))

    def drop(self, error: BaseException) -> None:
        self._fail(error)


def _parse_address(spec: str) -> tuple[str, int, str | None]:
    if "://" not in spec:
        spec = "tcp://" + spec
    url = urlparse(spec)
    if url.scheme != "tcp" or not url.hostname or not url.port:
        raise ValueError(f"simulator address must look like tcp://host:port, got {spec!r}")
    account = parse_qs(url.query).get("account", [None])[0]
    return url.hostname, url.port, account


def install_simulator(
    client: TelegramClient, transport: Any, *, account: str | None = None
) -> SeamSender:
    """Replace ``client._sender`` with the simulator seam. Call before ``connect()``.

    ``transport``: a ``World`` (in-process), or the address of a ``WorldServer`` as
    ``"tcp://host:port"`` (optionally ``?account=name``) or a ``(host, port)`` tuple.
    ``account`` names the simulated Telegram account (default ``"main"``).
    """
    from .remote import RemoteSender
    from .world import World

    if client.is_connected():
        raise RuntimeError("install_simulator() must be called before client.connect()")
    session_key = client.session.auth_key
    if isinstance(transport, World):
        sender: SeamSender = SimulatedSender(
            transport,
            account=account or DEFAULT_ACCOUNT,
            auth_key=session_key,
            updates_queue=client._updates_queue,
        )
    else:
        if isinstance(transport, tuple):
            host, port, url_account = transport[0], int(transport[1]), None
        elif isinstance(transport, str):
            host, port, url_account = _parse_address(transport)
        else:
            raise TypeError(f"unsupported simulator transport: {transport!r}")
        sender = RemoteSender(
            host,
            port,
            account=account or url_account or DEFAULT_ACCOUNT,
            auth_key=session_key,
            updates_queue=client._updates_queue,
        )
    client._sender = sender
    return sender


def make_simulated_client(
    world: Any,
    session: Any = None,
    *,
    account: str | None = None,
    **client_kwargs: Any,
) -> TelegramClient:
    """A real ``TelegramClient`` wired to the simulated Telegram (not yet connected).

    ``world``: a ``World`` or a ``WorldServer`` address (see ``install_simulator``).
    ``session``: any Telethon session (default: a fresh ``StringSession``).
    """
    client_kwargs.setdefault("api_id", DUMMY_API_ID)
    client_kwargs.setdefault("api_hash", DUMMY_API_HASH)
    client = TelegramClient(session if session is not None else StringSession(), **client_kwargs)
    install_simulator(client, world, account=account)
    return client
