"""What every collector shares: the pass loop, bounded jobs, schedules and watch requests.

A collector turns what it reads into observations for storage.changes; this module
holds the scheduling shapes so that the Telethon and the web-preview collector poll,
back off and answer /watch the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from collectors.flood import Deferred
from storage import changes, channels, ledger
from storage.assignments import Held
from storage.db import SessionMaker, transaction
from storage.models import Channel, WatchRequest
from storage.observations import Recorded
from storage.types import utcnow

log = logging.getLogger(__name__)

# How long a channel made for a watch request may take its first look before another
# collector answers the request in its stead.
FIRST_LOOK_GRACE = timedelta(seconds=120)
T = TypeVar("T")
# Which of these channel ids the web preview reads in full beside the account
# (storage.coverage.web_covers, bound to the account); None: no account beside it.
Covers = Callable[[AsyncSession, list[int]], Awaitable[set[int]]]


@dataclass(frozen=True)
class CollectorConfig:
    join_cap: int = 450
    poll_min: float = 60.0
    poll_max: float = 1800.0
    refresh_every: float = 900.0
    reconcile_every: float = 600.0
    reconcile_window: timedelta = timedelta(hours=72)
    jump_pct: float = 10.0
    jump_window: timedelta = timedelta(hours=24)
    backfill: int = 20
    concurrency: int = 4
    # Joins a pass makes at most: hundreds at once (a start, a takeover) would hold up the
    # pass loop, and with it the reading of channels just taken over; Telegram limits joins
    # more strictly than reads anyway.
    joins_per_pass: int = 20
    tick: float = 1.0
    retry_max: float = 6 * 3600.0
    mass_deletion: int = 5
    # A name that did not resolve is answered from memory this long: resolving is the most
    # flood-limited request, and a repeated /watch @typo must not spend it again.
    unresolvable_ttl: float = 600.0
    # A flood wait longer than this on reading hands the account's channels to another.
    flood_handover: float = 300.0


Job = tuple[int, Callable[[], Awaitable[object]]]


class CollectorBase:
    """The loop and schedules; subclasses say how one channel is read."""

    def __init__(
        self,
        sessions: SessionMaker,
        config: CollectorConfig | None = None,
        *,
        notify: Callable[[], None] | None = None,
        account: str = "default",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessions = sessions
        # Named in every observation-log record this collector writes.
        self.account = account
        # When a channel's record was seen; the demo's week runs on its world's clock.
        self.clock = clock or utcnow
        self.config = config or CollectorConfig()
        self._notify = notify or (lambda: None)
        self._by_tg: dict[int, int] = {}
        self._reconciled: dict[int, float] = {}
        self._refresh_now: set[int] = set()
        # Channels polled since this process started; the others catch up first thing.
        self._caught_up: set[int] = set()
        # Channels gained from the division whose poll interval is still their last holder's.
        self._taken_over: set[int] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self.last_error: str | None = None
        self.passes = 0
        # Where collectors divide the channels (collectors.assignment) only the held ones
        # are read, while their lease runs; None: this collector reads every watched one.
        self.held: frozenset[int] | None = None
        self.lease_until: datetime | None = None
        self.collector_id: int | None = None
        self._busy: dict[int, int] = {}
        self._ask_round: Callable[[], None] = lambda: None

    # --- the division ------------------------------------------------------------

    def divided(self, ask_round: Callable[[], None]) -> None:
        """From now on read only what the division gives (nothing until its first round)."""
        self.held = frozenset()
        self._ask_round = ask_round

    def hold(self, held: Held) -> None:
        """What the last round left this collector with."""
        gained = held.channels - (self.held or frozenset())
        self.held, self.lease_until = held.channels, held.lease_until
        # A channel taken over is re-read first and caught up from its stored cursor.
        self._refresh_now |= gained
        self._caught_up -= gained
        self._taken_over |= gained
        self._spread_reconciles(gained)
        self._on_hold(held)
        if gained:
            self.wake()

    def _spread_reconciles(self, gained: frozenset[int]) -> None:
        """First reconciles of channels just gained, spread over one reconcile period:
        hundreds at once (a start, a takeover) would hold up the next pass and with it
        every urgent refresh, e.g. the one that finds this account banned."""
        every, mono = self.config.reconcile_every, time.monotonic()
        fresh = sorted(ch for ch in gained if ch not in self._reconciled)
        for k, ch in enumerate(fresh):
            self._reconciled[ch] = mono - every + every * k / len(fresh)

    def _on_hold(self, held: Held) -> None:
        """What a subclass keeps of a round (an account's own access hashes, its joins)."""

    def limited(self) -> tuple[datetime, str] | None:
        """Until when and why Telegram limits this collector; None when it does not."""
        return None

    def busy(self) -> frozenset[int]:
        """Channels with work in flight (not to be given away mid-work)."""
        return frozenset(self._busy)

    def _scope(self) -> frozenset[int] | None:
        return self.held

    def holds(self, channel_id: int) -> bool:
        """Whether this collector may read the channel now."""
        scope = self._scope()
        if scope is None:
            return True
        return channel_id in scope and self.lease_until is not None and utcnow() < self.lease_until

    def _limited_by(self, exc: BaseException) -> bool:
        """Whether a job's error says Telegram limits the whole account (then handled)."""
        return False

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Run in a task of its own (tests, benchmarks); chanwatch supervises `run`."""
        self._tasks.append(asyncio.create_task(self.run(), name=type(self).__name__))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def wake(self) -> None:
        self._wake.set()

    def _source(self, method: str) -> str:
        return ledger.source_of(self.account, method)

    async def run_once(self) -> None:
        raise NotImplementedError

    def _made_progress(self) -> bool:
        """Whether a pass that did not raise counts as progress for the supervisor."""
        return True

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Collect until stopped; ``beat`` after each pass (for a supervisor)."""
        while not self._stopping:
            try:
                await self.run_once()
                if self._made_progress():
                    beat()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("collector pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.tick)

    # --- scheduling ---------------------------------------------------------------

    def _readable(self, ch: Channel) -> bool:
        """Whether this collector can read the channel now (unreachable ones are retried)."""
        return ch.reachable

    def _last_refresh(self, ch: Channel) -> datetime | None:
        """When this collector's source last read the channel's record."""
        return ch.last_refreshed_at

    def _refresh_due(self, ch: Channel, now: datetime) -> bool:
        last_refresh = self._last_refresh(ch)
        if ch.id in self._refresh_now:
            return True
        if not self._readable(ch):
            backoff = min(
                self.config.refresh_every * 2 ** min(ch.retry_count, 10), self.config.retry_max
            )
            last = ch.last_checked_at or last_refresh
            return last is None or now - last >= timedelta(seconds=backoff)
        if last_refresh is None:
            return True
        return now - last_refresh >= timedelta(seconds=self.config.refresh_every)

    def _poll_due(self, ch: Channel, now: datetime) -> bool:
        poll_due = ch.next_poll_at is None or ch.next_poll_at <= now
        return self._readable(ch) and (poll_due or ch.id not in self._caught_up)

    def _reconcile_due(self, ch: Channel, mono: float) -> bool:
        last = self._reconciled.get(ch.id, -1e18)
        return self._readable(ch) and mono - last >= self.config.reconcile_every

    async def _run_bounded(self, jobs: list[Job]) -> None:
        sem = asyncio.Semaphore(self.config.concurrency)

        async def run(channel_id: int, job: Callable[[], Awaitable[object]]) -> None:
            async with sem:
                # Given away (or the lease ran out) since the pass began: the holder reads it.
                if not self.holds(channel_id):
                    return
                self._busy[channel_id] = self._busy.get(channel_id, 0) + 1
                try:
                    await job()
                except Deferred as exc:
                    log.info("%s", exc)
                    if exc.seconds > self.config.flood_handover:
                        self._ask_round()
                except (ConnectionError, OSError) as exc:
                    self.last_error = f"connection: {exc}"
                    log.warning("connection lost during a collector job: %s", exc)
                except Exception as exc:
                    if self._limited_by(exc):
                        return
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("collector job failed")
                finally:
                    left = self._busy.pop(channel_id, 1) - 1
                    if left > 0:
                        self._busy[channel_id] = left

        await asyncio.gather(*(run(c, j) for c, j in jobs))

    def _interval(self, ch: Channel, new_posts: int) -> float:
        cfg = self.config
        # Live updates cover joined channels; polling them is only a safety net.
        if ch.joined:
            return cfg.poll_max
        if ch.id in self._taken_over:
            # Its interval was its last holder's (a member's, a safety net for live updates):
            # polled at the quickest first, it backs off as it stays quiet.
            return cfg.poll_min
        # Busy channels are polled more often, quiet ones less, within the bounds.
        wanted = ch.poll_interval_s / 2 if new_posts else ch.poll_interval_s * 1.5
        return min(cfg.poll_max, max(cfg.poll_min, wanted))

    def _wait_floor(self) -> float:
        """The least time before the next poll (a flood wait, a backoff)."""
        return 0.0

    async def _reschedule(self, s: AsyncSession, channel_id: int, new_posts: int) -> None:
        ch = await s.get(Channel, channel_id)
        if ch is None:
            return
        interval = self._interval(ch, new_posts)
        self._taken_over.discard(channel_id)
        ch.poll_interval_s = interval
        ch.next_poll_at = utcnow() + timedelta(seconds=max(interval, self._wait_floor()))

    # --- storage -------------------------------------------------------------------

    async def _load_watched(self) -> list[Channel]:
        scope = self._scope()
        async with self.sessions() as s:
            # Only the held ones: a third of 1,500 rows loaded every pass, not all of them.
            rows = list(await channels.watched(s, among=scope))
        self._by_tg = {c.tg_id: c.id for c in rows}
        return rows

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        result = await transaction(self.sessions, work)
        if isinstance(result, Recorded) and result.event_ids:
            self._notify()
        return result

    async def _channel(self, channel_id: int) -> Channel:
        async with self.sessions() as s:
            ch = await channels.get(s, channel_id)
        if ch is None:
            raise LookupError(f"channel {channel_id} vanished from the database")
        return ch

    async def _unavailable(
        self,
        channel_id: int,
        reason: str,
        detail: str | None,
        now: datetime,
        *,
        answer: str | None = None,
        releases_username: bool = False,
    ) -> Recorded:
        return await self._write(
            lambda s: changes.observe_unavailable(
                s,
                channel_id,
                reason,
                detail,
                now,
                answer=answer,
                releases_username=releases_username,
                source=self._source("refresh"),
            )
        )

    # --- watch requests --------------------------------------------------------

    async def watch(
        self, text: str, added_by: int | None, *, request_id: int | None = None
    ) -> tuple[Channel | None, str]:
        raise NotImplementedError

    async def process_watch_requests(self) -> None:
        async with self.sessions() as s:
            pending = list(
                await s.scalars(
                    select(WatchRequest)
                    .where(WatchRequest.status == "pending")
                    .order_by(WatchRequest.id)
                    .limit(20)
                )
            )
        for req in pending:
            try:
                await self.watch(req.handle, req.requested_by, request_id=req.id)
            except Deferred:
                return  # resolving is flood-waited: the rest wait with it

    async def _add(
        self,
        *,
        text: str,
        added_by: int | None,
        request_id: int | None,
        tg_id: int,
        access_hash: int | None,
        username: str | None,
        title: str,
    ) -> tuple[Channel, str]:
        """Watch a resolved channel and answer its request: at once when it was watched
        already, after the first look when this call made it (see `FIRST_LOOK_GRACE`)."""
        code = "added"

        async def add(s: AsyncSession) -> Channel:
            nonlocal code
            ch, created = await channels.add_or_rewatch(
                s,
                tg_id=tg_id,
                access_hash=access_hash,
                username=username,
                title=title,
                handle=text.strip()[:255],
                added_by=added_by,
                source=self._source("resolve"),
            )
            code = "added" if created else "already"
            if request_id is None:
                return ch
            req = await s.get(WatchRequest, request_id)
            if created:
                if req is not None:
                    req.channel_id = ch.id  # made for this request: its maker answers it
            elif req is not None and req.channel_id == ch.id:
                # Another collector made the channel for this very request and answers it
                # after its first look; if that was long ago, it died on the way.
                code = "wait" if utcnow() - ch.added_at < FIRST_LOOK_GRACE else "added"
                if code == "added":
                    await finish_request(s, request_id, "done", code, ch.id)
            else:
                await finish_request(s, request_id, "done", code, ch.id)
            return ch

        channel = await self._write(add)
        if code == "added":
            # The recent posts are archived quietly before "Now watching" is said: whatever
            # comes after the answer is news, whichever collector the division gives it to.
            try:
                await self._first_look(channel)
            except Exception as exc:  # noqa: BLE001 - the answer must not be lost to it
                # The holder's first poll archives them instead, quietly.
                log.warning(
                    "first look at channel %s failed (%s); its holder looks later", channel.id, exc
                )
            if request_id is not None:
                await self._write(lambda s: finish_request(s, request_id, "done", code, channel.id))
        self._refresh_now.add(channel.id)
        self._ask_round()  # a new channel joins the division now, not a third of a lease later
        self.wake()
        return channel, code

    async def poll(self, channel_id: int) -> Recorded:
        """Read what is new in the channel (each collector's own way)."""
        raise NotImplementedError

    async def _first_look(self, channel: Channel) -> None:
        """Archive a newly watched channel's recent posts quietly (its first poll)."""
        await self.poll(channel.id)

    async def _refuse(self, request_id: int | None, code: str) -> tuple[None, str]:
        if request_id is not None:
            await self._write(lambda s: finish_request(s, request_id, "failed", code, None))
        return None, code


async def finish_request(
    s: AsyncSession, request_id: int, state: str, code: str, channel_id: int | None
) -> None:
    req = await s.get(WatchRequest, request_id)
    if req is not None and req.status == "pending":
        req.status, req.result_code, req.channel_id = state, code, channel_id
        req.done_at = utcnow()
