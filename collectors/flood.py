"""Telegram's flood waits, obeyed per request type by everything that talks to Telegram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from telethon import errors

T = TypeVar("T")


class Deferred(Exception):
    """Telegram asked us to wait before this kind of request; try again later."""

    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(f"{kind} flood-waited for {seconds:.0f}s")
        self.kind = kind
        self.seconds = seconds


@dataclass
class FloodGate:
    """Per request type, until when Telegram told us to wait (monotonic clock)."""

    clock: Callable[[], float] = time.monotonic
    until: dict[str, float] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    def remaining(self, kind: str) -> float:
        return max(0.0, self.until.get(kind, 0.0) - self.clock())

    def block(self, kind: str, seconds: float) -> None:
        self.until[kind] = max(self.until.get(kind, 0.0), self.clock() + seconds)
        self.total[kind] = self.total.get(kind, 0) + 1

    def active(self) -> dict[str, float]:
        return {k: round(r, 1) for k in self.until if (r := self.remaining(k)) > 0}

    async def call(self, kind: str, request: Awaitable[T]) -> T:
        """Send one request unless its kind is flood-waited; a FloodWaitError closes the gate."""
        remaining = self.remaining(kind)
        if remaining > 0:
            if asyncio.iscoroutine(request):
                request.close()
            raise Deferred(kind, remaining)
        try:
            return await request
        except errors.FloodWaitError as exc:
            self.block(kind, exc.seconds)
            raise Deferred(kind, exc.seconds) from None
