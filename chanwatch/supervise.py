"""Supervision of chanwatch's background parts, and what they last reported.

Each part (polling, collector, router, sender, scheduler; downloads or any later one
the same way) is a coroutine that runs until cancelled and calls ``beat()`` after
each round of work. A part that raises or returns is logged at ERROR and started
again after a growing delay, so nothing can die silently. A part that has not beaten
within its interval, or whose last attempt failed, is stale: the health endpoint
answers 503 naming it, and ``chanwatch status`` shows it from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from storage import status
from storage.db import SessionMaker, transaction
from storage.types import utcnow

log = logging.getLogger(__name__)

Beat = Callable[[], None]
PartRun = Callable[[Beat], Awaitable[None]]
STATUS_PREFIX = "part:"


@dataclass
class PartState:
    """What a supervisor knows about one part; ``as_dict`` is what gets stored."""

    name: str
    interval: float
    started_at: datetime
    last_beat: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    restarts: int = 0
    state: str = "starting"

    def stale(self, now: datetime) -> bool:
        return is_stale(self.as_dict(), now)

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "interval": self.interval,
            "started_at": iso(self.started_at),
            "last_beat": iso(self.last_beat),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "restarts": self.restarts,
            "state": self.state,
        }


def is_stale(data: dict[str, Any], now: datetime) -> bool:
    """A part (as stored) is stale when it failed since it last beat, or has not beaten
    within its interval (counted from its start when it never has)."""
    beat = _dt(data.get("last_beat"))
    failed = _dt(data.get("last_error_at"))
    if failed is not None and (beat is None or failed > beat):
        return True
    since = beat or _dt(data.get("started_at"))
    if since is None:
        return True
    return now - since > timedelta(seconds=float(data.get("interval") or 0))


def _dt(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass
class _Part:
    run: PartRun
    state: PartState
    task: asyncio.Task[None] | None = None
    # The row it is stored as (after STATUS_PREFIX): its name, or "name:owner" where
    # several processes run the same part (one collector per account).
    stored_as: str = ""


def part_row(name: str, owner: str | None = None) -> str:
    """The status row name of a part, owned by one collector account or by none."""
    return f"{STATUS_PREFIX}{name}:{owner}" if owner else f"{STATUS_PREFIX}{name}"


def shown_part(row_name: str) -> str:
    """A part's status row as `chanwatch status` names it: "collector (acc1)"."""
    name, _, owner = row_name.removeprefix(STATUS_PREFIX).partition(":")
    return f"{name} ({owner})" if owner else name


@dataclass
class Supervisor:
    """Runs parts, restarts them with backoff, and stores their reports."""

    sessions: SessionMaker | None = None
    first_delay: float = 1.0
    max_delay: float = 60.0
    # A part that ran this long since its last restart starts over at first_delay.
    healthy_after: float = 60.0
    report_every: float = 5.0
    clock: Callable[[], datetime] = utcnow
    _parts: dict[str, _Part] = field(default_factory=dict)
    _reporter: asyncio.Task[None] | None = None
    _reported: bool = False

    def add(self, name: str, run: PartRun, *, interval: float, owner: str | None = None) -> None:
        """Supervise ``run`` as part ``name``; it must beat at least every ``interval`` s.

        ``owner``: the collector account whose part it is; its report is stored apart from
        the same part of other processes (else the last writer hides the others)."""
        if name in self._parts:
            raise ValueError(f"part {name!r} is already supervised")
        state = PartState(name, interval, self.clock())
        self._parts[name] = _Part(run, state, stored_as=part_row(name, owner))
        if self._reporter is not None:  # added while running: start it at once
            self._start(self._parts[name])

    def beat(self, name: str) -> None:
        state = self._parts[name].state
        state.last_beat = self.clock()
        state.state = "running"

    def failed(self, name: str, error: str) -> None:
        """A part's attempt failed without ending it (e.g. the Bot API did not answer)."""
        state = self._parts[name].state
        state.last_error, state.last_error_at = error, self.clock()

    def parts(self) -> dict[str, PartState]:
        return {name: part.state for name, part in self._parts.items()}

    def stale(self) -> list[str]:
        now = self.clock()
        return [name for name, part in self._parts.items() if part.state.stale(now)]

    async def start(self) -> None:
        for part in self._parts.values():
            self._start(part)
        self._reporter = asyncio.create_task(self._report_loop(), name="supervisor-report")

    def _start(self, part: _Part) -> None:
        part.task = asyncio.create_task(self._keep(part), name=f"part-{part.state.name}")

    async def stop(self) -> None:
        tasks = [p.task for p in self._parts.values() if p.task is not None]
        if self._reporter is not None:
            tasks.append(self._reporter)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for part in self._parts.values():
            part.task, part.state.state = None, "stopped"
        self._reporter = None
        try:
            await self.report()
        except Exception as exc:  # noqa: BLE001 - stopping anyway; the rows keep their last report
            log.warning("could not store the parts' last state: %s", exc)

    async def _keep(self, part: _Part) -> None:
        state = part.state
        delay = self.first_delay
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await part.run(lambda: self.beat(state.name))
                error = "ended without being stopped"
                log.error("part %s %s; restarting in %.1fs", state.name, error, delay)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the point of a supervisor: nothing dies silently
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                log.exception("part %s crashed; restarting in %.1fs", state.name, delay)
            if loop.time() - began >= self.healthy_after:
                delay = self.first_delay
            state.restarts += 1
            state.state = "restarting"
            self.failed(state.name, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)

    async def _report_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # reports are best effort; parts go on
                await self.report()
            await asyncio.sleep(self.report_every)

    async def report(self) -> None:
        """Store every part's state (one row each) for `chanwatch status` and /status."""
        if self.sessions is None or not self._parts:
            return
        reports = {part.stored_as: part.state.as_dict() for part in self._parts.values()}
        # The unowned row every process shared before its part was stored under its owner:
        # left by an upgrade, it would stay stale for ever (and `chanwatch status` exit 1).
        shared = [] if self._reported else [part_row(n) for n in self._parts]
        shared = [row for row in shared if row not in reports]

        async def work(s: Any) -> None:
            await status.drop(s, shared)
            for row, data in reports.items():
                await status.put(s, row, data)

        await transaction(self.sessions, work, attempts=1)
        self._reported = True
