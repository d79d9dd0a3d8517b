"""HTTP control API of the simulated Bot API, and a small client for it.

Another process (a scenario test running chanwatch as a subprocess, the demo) drives
the simulator through ``/control/...`` on the same server. Every answer is JSON
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}`` (status 400).

==========================  ======  =============================================
path                        verb    body / query -> result
==========================  ======  =============================================
/control/user_sends         POST    {user_id, text, language_code?, first_name?,
                                    username?, chat_id?} -> the update
/control/user_presses       POST    {user_id, message_id, data, language_code?,
                                    chat_id?} -> {"callback_query_id": ...}
/control/received           GET     ?chat_id=N -> [SentMessage JSON]
/control/all_sent           GET     -> [SentMessage JSON]
/control/callback_answers   GET     -> [answer]
/control/pending_updates    GET     -> [update]
/control/block              POST    {chat_id}  (also unblock, deactivate, forget)
/control/fail_next          POST    {n, status?, description?, methods?}
/control/set_down           POST    {down, status?}
/control/set_latency        POST    {seconds}
/control/limits             GET     -> BotAPILimits fields; POST fields to replace
/control/stats              GET     -> BotAPIStats as a dict
/control/my_commands        GET     -> [{scope, language_code, commands}]
==========================  ======  =============================================

``SentMessage`` JSON carries ``photo`` base64-encoded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from aiohttp import web

from simulator.botapi.flood import BotAPILimits

if TYPE_CHECKING:
    from simulator.botapi.server import BotAPISimulator, SentMessage

__all__ = ["BotAPIControlClient", "ControlError", "add_control_routes"]

_Action = Callable[["BotAPISimulator", dict[str, Any]], Any]


def _chat(body: dict[str, Any]) -> int:
    return int(body["chat_id"])


def _user_sends(sim: BotAPISimulator, b: dict[str, Any]) -> Any:
    return sim.user_sends(
        int(b["user_id"]),
        str(b["text"]),
        language_code=str(b.get("language_code", "en")),
        first_name=str(b.get("first_name", "User")),
        username=b.get("username"),
        chat_id=None if b.get("chat_id") is None else int(b["chat_id"]),
    )


def _user_presses(sim: BotAPISimulator, b: dict[str, Any]) -> Any:
    query_id = sim.user_presses(
        int(b["user_id"]),
        int(b["message_id"]),
        str(b["data"]),
        language_code=str(b.get("language_code", "en")),
        chat_id=None if b.get("chat_id") is None else int(b["chat_id"]),
    )
    return {"callback_query_id": query_id}


def _limits(sim: BotAPISimulator, b: dict[str, Any]) -> Any:
    if b:
        names = {f.name for f in dataclasses.fields(BotAPILimits)}
        unknown = set(b) - names
        if unknown:
            raise ValueError(f"unknown limit fields: {sorted(unknown)}")
        sim.limits = dataclasses.replace(sim.limits, **b)
    return dataclasses.asdict(sim.limits)


def _my_commands(sim: BotAPISimulator, b: dict[str, Any]) -> Any:
    return [
        {"scope": json.loads(scope), "language_code": lang, "commands": commands}
        for (scope, lang), commands in sim.my_commands.items()
    ]


_ACTIONS: dict[str, _Action] = {
    "user_sends": _user_sends,
    "user_presses": _user_presses,
    "received": lambda sim, b: [m.to_json() for m in sim.received(_chat(b))],
    "all_sent": lambda sim, b: [m.to_json() for m in sim.all_sent()],
    "callback_answers": lambda sim, b: sim.callback_answers(),
    "pending_updates": lambda sim, b: sim.pending_updates(),
    "block": lambda sim, b: sim.block(_chat(b)),
    "unblock": lambda sim, b: sim.unblock(_chat(b)),
    "deactivate": lambda sim, b: sim.deactivate(_chat(b)),
    "forget": lambda sim, b: sim.forget(_chat(b)),
    "fail_next": lambda sim, b: sim.fail_next(
        int(b["n"]), int(b.get("status", 500)), b.get("description"), b.get("methods")
    ),
    "set_down": lambda sim, b: sim.set_down(bool(b["down"]), int(b.get("status", 502))),
    "set_latency": lambda sim, b: sim.set_latency(float(b["seconds"])),
    "limits": _limits,
    "stats": lambda sim, b: sim.stats.as_dict(),
    "my_commands": _my_commands,
}


def add_control_routes(app: web.Application, sim: BotAPISimulator) -> None:
    """Mount ``/control/{action}`` (GET reads the query string, POST a JSON body)."""

    async def handle(request: web.Request) -> web.Response:
        action = _ACTIONS.get(request.match_info["action"])
        if action is None:
            return web.json_response({"ok": False, "error": "unknown control action"}, status=404)
        body: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            try:
                payload = await request.json()
            except ValueError:
                return web.json_response({"ok": False, "error": "body must be JSON"}, status=400)
            if not isinstance(payload, dict):
                return web.json_response(
                    {"ok": False, "error": "body must be an object"}, status=400
                )
            body.update(payload)
        try:
            result = action(sim, body)
        except (KeyError, TypeError, ValueError) as err:
            text = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            return web.json_response({"ok": False, "error": text}, status=400)
        return web.json_response({"ok": True, "result": result})

    app.router.add_route("*", "/control/{action}", handle)


class ControlError(RuntimeError):
    """The control API refused a request."""


class BotAPIControlClient:
    """Drives a :class:`BotAPISimulator` in another process through ``/control``.

    ``async with BotAPIControlClient(base_url) as ctl: await ctl.user_sends(42, "/start")``
    """

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> BotAPIControlClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, action: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = f"{self.base_url}/control/{action}"
        request: Callable[..., Any] = self._session.post
        async with request(url, json=body or {}) as resp:
            data = await resp.json()
        if not data.get("ok"):
            raise ControlError(data.get("error", f"HTTP {resp.status}"))
        return data["result"]

    async def user_sends(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        body = {"user_id": user_id, "text": text, **kwargs}
        return cast(dict[str, Any], await self._call("user_sends", body))

    async def user_presses(self, user_id: int, message_id: int, data: str, **kwargs: Any) -> str:
        body = {"user_id": user_id, "message_id": message_id, "data": data, **kwargs}
        return cast(str, (await self._call("user_presses", body))["callback_query_id"])

    async def received(self, chat_id: int) -> list[SentMessage]:
        from simulator.botapi.server import SentMessage

        return [
            SentMessage.from_json(m) for m in await self._call("received", {"chat_id": chat_id})
        ]

    async def all_sent(self) -> list[SentMessage]:
        from simulator.botapi.server import SentMessage

        return [SentMessage.from_json(m) for m in await self._call("all_sent")]

    async def callback_answers(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await self._call("callback_answers"))

    async def pending_updates(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await self._call("pending_updates"))

    async def block(self, chat_id: int) -> None:
        await self._call("block", {"chat_id": chat_id})

    async def unblock(self, chat_id: int) -> None:
        await self._call("unblock", {"chat_id": chat_id})

    async def deactivate(self, chat_id: int) -> None:
        await self._call("deactivate", {"chat_id": chat_id})

    async def forget(self, chat_id: int) -> None:
        await self._call("forget", {"chat_id": chat_id})

    async def fail_next(
        self,
        n: int,
        status: int = 500,
        description: str | None = None,
        methods: list[str] | None = None,
    ) -> None:
        body = {"n": n, "status": status, "description": description, "methods": methods}
        await self._call("fail_next", body)

    async def set_down(self, down: bool, status: int = 502) -> None:
        await self._call("set_down", {"down": down, "status": status})

    async def set_latency(self, seconds: float) -> None:
        await self._call("set_latency", {"seconds": seconds})

    async def limits(self, **changes: Any) -> dict[str, Any]:
        """Read the limits; keyword arguments replace those fields first."""
        return cast(dict[str, Any], await self._call("limits", changes))

    async def stats(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self._call("stats"))

    async def my_commands(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await self._call("my_commands"))
