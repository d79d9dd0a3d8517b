"""The division loop: this process's collectors take part in sharing the watched channels.

Every third of a lease each collector of the process runs one round of
`storage.assignments.rebalance` (heartbeat, give away, take, renew) and is told what it
holds; a collector that Telegram limits asks for a round at once (`wake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from collectors.base import CollectorBase
from storage import assignments
from storage.assignments import Held
from storage.db import SessionMaker, database_now, transaction
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class Member:
    collector: CollectorBase
    kind: str
    name: str
    join_cap: int
    id: int | None = None


class Assigner:
    def __init__(
        self,
        sessions: SessionMaker,
        members: list[Member],
        *,
        lease: float,
    ) -> None:
        self.sessions = sessions
        self.members = members
        self.lease = lease
        self.rounds = 0
        self._wake = asyncio.Event()
        for m in members:
            m.collector.divided(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def register(self) -> None:
        for m in self.members:
            m.id = await transaction(self.sessions, partial(self._register, m))
            m.collector.collector_id = m.id

    async def _register(self, m: Member, s: AsyncSession) -> int:
        return await assignments.register(s, m.kind, m.name, m.join_cap, await database_now(s))

    async def _round(self, me: int, c: CollectorBase, s: AsyncSession) -> Held:
        # Leases and heartbeats by the database's clock: collectors on machines whose
        # clocks disagree still agree on whose lease has run out.
        now = await database_now(s)
        limited = c.limited()
        if limited is not None:  # Telegram's wait, counted on this machine's clock
            limited = (now + (limited[0] - utcnow()), limited[1])
        return await assignments.rebalance(s, me, now, self.lease, limited=limited, busy=c.busy())

    async def round(self) -> None:
        """One round for every member, in order (the account before its web companion)."""
        for m in self.members:
            if m.id is None:
                await self.register()
            assert m.id is not None
            held = await transaction(self.sessions, partial(self._round, m.id, m.collector))
            m.collector.hold(held)
        self.rounds += 1

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Rounds until cancelled, every third of a lease (sooner when woken)."""
        await self.register()
        while True:
            self._wake.clear()
            await self.round()
            beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.lease / 3)
