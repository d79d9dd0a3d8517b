"""The world in another process: a TCP world server, a remote sender and control clients.

Wire format (all integers big-endian):

* client connections speak length-prefixed frames: ``u32 length`` + ``u8 kind`` + body

  ====  ==================  =============================================================
  kind  direction           body
  ====  ==================  =============================================================
  H     both                hello, JSON: ``{"role": "client", "account": "main"}`` / reply
  R     client -> server    ``u64 request id`` + TL request bytes (``bytes(request)``)
  S     server -> client    ``u64 request id`` + TL result bytes
  E     server -> client    ``u64 request id`` + ``i32 code`` + UTF-8 error message
  U     server -> client    TL ``Updates`` bytes (pushed)
  ====  ==================  =============================================================

* control connections send JSON lines (the first byte is ``{``): each line
  ``{"op": "post", "args": [...], "kwargs": {...}}`` is answered by one line
  ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "...", "type": "..."}``.
  Ops are the World script methods in ``world.CONTROL_OPS``. A channel argument may be
  its id or its username.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as _dt
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from telethon.crypto import AuthKey

from .handlers import Reply
from .sender import SeamSender, _parse_address
from .world import CONTROL_OPS, World

HELLO, REQUEST, RESULT, ERROR, UPDATES = b"H", b"R", b"S", b"E", b"U"
# File contents travel over the JSON control connection as {"$bytes": "<base64>"}.
BYTES_KEY = "$bytes"
_MAX_FRAME = 64 * 1024 * 1024


def _frame(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 1) + kind + body


async def _read_frame(reader: asyncio.StreamReader, first: bytes = b"") -> tuple[bytes, bytes]:
    header = first + await reader.readexactly(4 - len(first))
    (length,) = struct.unpack(">I", header)
    if not 1 <= length <= _MAX_FRAME:
        raise ConnectionError(f"bad frame length {length}")
    payload = await reader.readexactly(length)
    return payload[:1], payload[1:]


def jsonable(value: Any) -> Any:
    """A JSON value for ``value``; bytes become ``{"$bytes": "<base64>"}`` (see ``unjson``)."""
    if isinstance(value, (bytes, bytearray)):
        return {BYTES_KEY: base64.b64encode(bytes(value)).decode()}
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def unjson(value: Any) -> Any:
    """Undo ``jsonable`` for arguments: ``{"$bytes": ...}`` back to bytes (file contents)."""
    if isinstance(value, dict):
        if set(value) == {BYTES_KEY}:
            return base64.b64decode(value[BYTES_KEY], validate=True)
        return {k: unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unjson(v) for v in value]
    return value


def run_op(
    world: World, op: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None
) -> Any:
    """Run one whitelisted world script operation."""
    if op not in CONTROL_OPS:
        raise ValueError(f"unknown control op {op!r}")
    return getattr(world, op)(*unjson(args or []), **unjson(kwargs or {}))


def run_script(world: World, ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Run a seed script: a list of ``{"op", "args", "kwargs", "as"}``.

    ``"as": "name"`` stores the result (a channel or user is stored as its id); a later
    argument ``"$name"`` is replaced by it. Returns the named results."""
    names: dict[str, Any] = {}

    def subst(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$") and value[1:] in names:
            return names[value[1:]]
        if isinstance(value, list):
            return [subst(v) for v in value]
        if isinstance(value, dict):
            return {k: subst(v) for k, v in value.items()}
        return value

    for step in ops:
        result = run_op(
            world, step["op"], subst(step.get("args", [])), subst(step.get("kwargs", {}))
        )
        if step.get("as"):
            names[step["as"]] = getattr(result, "id", result)
    return names


class _RemoteClient:
    """Server side of one client connection (one Telegram account)."""

    def __init__(self, server: WorldServer, writer: asyncio.StreamWriter, account: str):
        self.server = server
        self.writer = writer
        self.account = account
        self.receive_updates = True
        self.closed = False

    def deliver(self, updates: Any) -> None:
        if not self.closed:
            self.writer.write(_frame(UPDATES, bytes(updates)))

    def drop(self, error: BaseException) -> None:
        self.closed = True
        self.writer.close()

    def reply(self, req_id: int, reply: Reply) -> None:
        if self.closed:
            return
        head = struct.pack(">Q", req_id)
        if reply.ok:
            self.writer.write(_frame(RESULT, head + reply.data))
        else:
            body = head + struct.pack(">i", reply.code) + reply.message.encode()
            self.writer.write(_frame(ERROR, body))


class WorldServer:
    """Serve a ``World`` over TCP to ``RemoteSender`` clients and control connections."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0):
        self.world = world
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> WorldServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.world.disconnect_clients()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> WorldServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            first = await reader.readexactly(1)
            if first == b"{":
                await self._control(first, reader, writer)
            else:
                await self._client(first, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _client(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        kind, body = await _read_frame(reader, first)
        if kind != HELLO:
            raise ConnectionError("expected a hello frame")
        hello = json.loads(body)
        conn = _RemoteClient(self, writer, str(hello.get("account") or "main"))
        self.world._attach(conn)
        account = self.world.account(conn.account)
        writer.write(_frame(HELLO, json.dumps({"ok": True, "user_id": account.user.id}).encode()))
        loop = asyncio.get_running_loop()
        try:
            while not conn.closed:
                kind, body = await _read_frame(reader)
                if kind != REQUEST:
                    raise ConnectionError(f"unexpected frame {kind!r}")
                (req_id,) = struct.unpack(">Q", body[:8])
                reply = self.world.dispatch(conn, body[8:])
                if self.world.latency > 0:
                    loop.call_later(self.world.latency, conn.reply, req_id, reply)
                else:
                    conn.reply(req_id, reply)
                await writer.drain()
        finally:
            conn.closed = True
            self.world._detach(conn)

    async def _control(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        line = first + await reader.readline()
        while line:
            text = line.decode().strip()
            if text:
                writer.write(
                    (json.dumps(self._run_control(text), ensure_ascii=False) + "\n").encode()
                )
                await writer.drain()
            line = await reader.readline()

    def _run_control(self, text: str) -> dict[str, Any]:
        try:
            msg = json.loads(text)
            op = msg.get("op")
            if op == "hello":
                return {"ok": True, "result": "control"}
            result = run_op(self.world, op, msg.get("args"), msg.get("kwargs"))
            return {"ok": True, "result": jsonable(result)}
        except Exception as e:  # noqa: BLE001 - any script failure goes back to the caller
            return {"ok": False, "error": str(e), "type": type(e).__name__}


class RemoteSender(SeamSender):
    """The seam over TCP: same behaviour as ``SimulatedSender``, world elsewhere."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        account: str,
        auth_key: AuthKey | None,
        updates_queue: asyncio.Queue[Any],
        connect_timeout: float = 10.0,
    ):
        super().__init__(account=account, auth_key=auth_key, updates_queue=updates_queue)
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._next_id = 0
        self._by_id: dict[int, tuple[asyncio.Future[Any], Any]] = {}

    async def _open(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        hello = {"role": "client", "account": self.account}
        writer.write(_frame(HELLO, json.dumps(hello).encode()))
        kind, body = await asyncio.wait_for(_read_frame(reader), self.connect_timeout)
        if kind != HELLO or not json.loads(body).get("ok"):
            writer.close()
            raise ConnectionError(f"simulated Telegram at {self.host}:{self.port} refused us")
        self._reader, self._writer = reader, writer
        self._by_id.clear()
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    async def _close(self) -> None:
        task, self._read_task = self._read_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _transmit(self, fut: asyncio.Future[Any], request: Any, data: bytes) -> None:
        assert self._writer is not None
        self._next_id += 1
        self._by_id[self._next_id] = (fut, request)
        self._writer.write(_frame(REQUEST, struct.pack(">Q", self._next_id) + data))

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                kind, body = await _read_frame(self._reader)
                if kind == UPDATES:
                    self._push_updates(body)
                    continue
                (req_id,) = struct.unpack(">Q", body[:8])
                entry = self._by_id.pop(req_id, None)
                if entry is None:
                    continue
                fut, request = entry
                if kind == RESULT:
                    self._resolve(fut, request, Reply(True, body[8:]))
                elif kind == ERROR:
                    (code,) = struct.unpack(">i", body[8:12])
                    reply = Reply(False, code=code, message=body[12:].decode())
                    self._resolve(fut, request, reply)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            self._by_id.clear()
            self._fail(ConnectionError(f"connection to the simulated Telegram lost: {e!r}"))
            if self._writer is not None:
                self._writer.close()


class ControlError(RuntimeError):
    """A control op failed on the world server."""


def _request_line(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    payload = {"op": op, "args": jsonable(list(args)), "kwargs": jsonable(kwargs)}
    return json.dumps(payload, ensure_ascii=False)


def _raise_or_result(reply: dict[str, Any]) -> Any:
    if not reply.get("ok"):
        raise ControlError(f"{reply.get('type')}: {reply.get('error')}")
    return unjson(reply.get("result"))


class ControlClient:
    """Blocking control client (for a test in another process than the world).

    ``ctl = ControlClient("tcp://127.0.0.1:PORT")``; ``ctl.post(ch_id, "text")``.
    Do not use it from the event loop that hosts the ``WorldServer`` (it would block it);
    use ``AsyncControlClient`` there."""

    def __init__(self, address: str | tuple[str, int], timeout: float = 10.0):
        host, port = _split(address)
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rwb")

    def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        line = _request_line(op, args, kwargs)
        self._file.write(line.encode() + b"\n")
        self._file.flush()
        answer = self._file.readline()
        if not answer:
            raise ConnectionError("world server closed the control connection")
        return _raise_or_result(json.loads(answer))

    def __getattr__(self, op: str) -> Any:
        if op in CONTROL_OPS:
            return lambda *a, **kw: self.call(op, *a, **kw)
        raise AttributeError(op)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()
        self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncControlClient:
    """Control client for asyncio code: ``await ctl.post(ch_id, "text")``."""

    def __init__(self, address: str | tuple[str, int]):
        self.host, self.port = _split(address)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> AsyncControlClient:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        if self._writer is None:
            await self.connect()
        assert self._reader is not None and self._writer is not None
        async with self._lock:
            line = _request_line(op, args, kwargs)
            self._writer.write(line.encode() + b"\n")
            await self._writer.drain()
            answer = await self._reader.readline()
        if not answer:
            raise ConnectionError("world server closed the control connection")
        return _raise_or_result(json.loads(answer))

    def __getattr__(self, op: str) -> Any:
        if op in CONTROL_OPS:
            return lambda *a, **kw: self.call(op, *a, **kw)
        raise AttributeError(op)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None

    async def __aenter__(self) -> AsyncControlClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _split(address: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(address, tuple):
        return address[0], int(address[1])
    host, port, _account = _parse_address(address)
    return host, port


class WorldProcess:
    """Run ``python -m simulator.mtproto`` as a child process (for scenario tests).

    ``with WorldProcess(seed_script="seed.json") as wp: wp.url; wp.control().post(...)``"""

    def __init__(
        self,
        seed_script: str | os.PathLike[str] | None = None,
        *,
        python: str = sys.executable,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 20.0,
    ):
        self.seed_script = seed_script
        self.python = python
        self.host = host
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url: str | None = None

    def start(self) -> str:
        root = Path(__file__).resolve().parents[2]
        cmd = [
            self.python,
            "-m",
            "simulator.mtproto",
            "--host",
            self.host,
            "--port",
            "0",
            *self.extra_args,
        ]
        if self.seed_script is not None:
            cmd += ["--seed-script", os.fspath(self.seed_script)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=root, env=env, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("tcp://"):
            self.stop()
            raise RuntimeError(f"world server did not start (got {line!r})")
        self.url = line
        return line

    def control(self) -> ControlClient:
        assert self.url is not None, "start() first"
        return ControlClient(self.url)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> WorldProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
