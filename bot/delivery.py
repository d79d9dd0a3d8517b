"""The sender: drains the outbox through the Bot API within Telegram's limits.

Rows are claimed with a lease by a claimer that keeps up to two batches ahead of the
workers, so sending never waits for a batch to finish nor claiming for the sends. A chat
is worked by one worker at a time, rows in queue order, so its messages keep their order.
Before every message part the sender asks whether the row is still its own (not stopped,
banned or taken over by another sender); the questions of all its workers are answered
together, but each by a query that began after it was asked, so once a `/stop` or `/ban`
has committed not one more part goes out.

What Telegram accepted is recorded in batches: the marks are committed together every
`commit_interval` seconds. Exactly-once, re-stated: a sender that dies, even by `kill -9`,
repeats at most the messages whose acceptance it had not committed yet, those in flight
plus those accepted within one commit interval. `Sender.repeat_bound` holds that figure,
concurrency + ceil(rate x commit_interval) (16 + 2 at the defaults, 16 + 50 at 1,000
msg/s): a message takes a permit before it is sent and gives it back only once its mark
is committed, so no more than that many can be unrecorded at any moment. Rows claimed
ahead and not started are not repeats: nothing of them went out; they keep their lease
(or are given back when the sender stops), and a row the claimer meets again while it is
held or its mark is uncommitted is not taken twice.
A lease that runs out hands unfinished rows to the next sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import Response
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, LinkPreviewOptions, Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox, subscribers
from storage.db import (
    DatabaseUnavailable,
    SessionMaker,
    database_now,
    dialect_name,
    transaction,
)
from storage.mediastore import MediaStore
from storage.models import Delivery, Digest
from storage.types import utcnow

log = logging.getLogger(__name__)

COMMIT_INTERVAL = 0.05  # seconds between commits of what Telegram accepted
MAX_MARKS_PER_COMMIT = 500


def default_concurrency(rate: float) -> int:
    """Sends side by side: one takes a few ms here, up to a few hundred against Telegram."""
    return max(16, math.ceil(rate / 25))


def marks_per_commit(rate: float, commit_interval: float = COMMIT_INTERVAL) -> int:
    """Messages accepted within one commit interval at full rate (capped for a lifted one)."""
    return max(1, min(math.ceil(rate * commit_interval), MAX_MARKS_PER_COMMIT))


def repeat_bound(
    rate: float, concurrency: int | None = None, commit_interval: float = COMMIT_INTERVAL
) -> int:
    """The most messages a sender killed at any moment (even `kill -9`) sends again after
    a restart: those in flight plus those accepted within one commit interval."""
    return (concurrency or default_concurrency(rate)) + marks_per_commit(rate, commit_interval)


GONE_MARKERS = ("chat not found", "user is deactivated", "bot was blocked", "peer_id_invalid")
# Telegram allows 20 messages a minute in one group or channel. The spacing is measured
# here and counted at Telegram after the network: 5 % more keeps jitter inside the limit.
GROUP_PER_SECOND = 20 / 60 / 1.05


@dataclass
class RateLimiter:
    """Evenly spaced sends: overall at `rate`/s, each private chat at `per_chat`/s, each
    group or channel (a negative chat id) at `per_group`/s.

    Spacing instead of bursting keeps us just under Telegram's own buckets, so a
    fan-out runs at the limit without collecting 429s.
    """

    rate: float
    per_chat: float
    clock: Callable[[], float] = time.monotonic
    per_group: float = GROUP_PER_SECOND
    _next_global: float = 0.0
    _next_chat: dict[int, float] = field(default_factory=dict)
    _paused_until: float = 0.0

    def chat_ready_in(self, chat_id: int) -> float:
        return max(0.0, self._next_chat.get(chat_id, 0.0) - self.clock())

    def reserve(self, chat_id: int) -> float:
        """Book the next slot for this chat; seconds to wait before sending."""
        now = self.clock()
        start = max(now, self._next_global, self._next_chat.get(chat_id, 0.0), self._paused_until)
        self._next_global = start + 1.0 / self.rate
        self._next_chat[chat_id] = start + 1.0 / (self.per_group if chat_id < 0 else self.per_chat)
        if len(self._next_chat) > 50_000:
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        return start - now

    def pause(self, seconds: float, chat_id: int | None = None) -> None:
        until = self.clock() + seconds
        self._paused_until = max(self._paused_until, until)
        if chat_id is not None:
            self._next_chat[chat_id] = max(self._next_chat.get(chat_id, 0.0), until)


@dataclass
class SenderStats:
    sent: int = 0
    retry_after: int = 0
    server_errors: int = 0
    blocked: int = 0
    failed: int = 0
    sent_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def per_minute(self, clock: Callable[[], float] = time.monotonic) -> int:
        cutoff = clock() - 60
        return sum(1 for t in self.sent_times if t >= cutoff)


class _Liveness:
    """Whether rows are still ours, asked by many workers and answered together.

    Every answer comes from a query that began after the question, so checking stays as
    strict as one query per part; at most one query runs per `gap` seconds, and it renews
    the lease of rows whose lease is half gone.
    """

    def __init__(
        self, sessions: SessionMaker, worker_id: str, lease: timedelta, gap: float
    ) -> None:
        self.sessions = sessions
        self.worker_id = worker_id
        self.lease = lease
        self.gap = gap
        self._asks: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None
        self._last = -math.inf

    async def ask(self, row: Delivery) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._asks.append((row, answer))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._answer(), name="sender-liveness")
        return await answer

    async def _answer(self) -> None:
        while self._asks:
            wait = self._last + self.gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            asks, self._asks = self._asks, []
            self._last = time.monotonic()
            try:
                ours = await self._query([row for row, _ in asks])
            except Exception as exc:  # noqa: BLE001 - each asking worker gets the error
                for _, answer in asks:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for row, answer in asks:
                if not answer.done():
                    answer.set_result(row.id in ours)

    async def _query(self, rows: list[Delivery]) -> set[int]:
        ours: set[int] = set()
        async with self.sessions() as s:
            # Leases are counted by the database's clock (`outbox.claim`), so is what is left.
            now = await database_now(s)
            short = [r for r in rows if (r.claimed_until or now) - now < self.lease / 2]
            if len(short) < len(rows):
                ours = await outbox.still_ours(
                    s, [r.id for r in rows if r not in short], self.worker_id
                )
        if short:
            held, until = await transaction(
                self.sessions,
                lambda s: outbox.renew(s, [r.id for r in short], self.worker_id, self.lease),
            )
            for r in short:
                if r.id in held:
                    r.claimed_until = until
            ours |= held
        return ours


class _Marks:
    """What Telegram accepted that the outbox does not know yet, committed together.

    `permits` caps the messages sent or being sent whose marks are not committed: the
    most a crash can repeat.
    """

    def __init__(
        self,
        sessions: SessionMaker,
        *,
        interval: float,
        size: int,
        permits: int,
        on_done: Callable[[], None] = lambda: None,
    ):
        self.sessions = sessions
        self.on_done = on_done
        self.interval = interval
        self.size = size
        self._permits = asyncio.Semaphore(permits)
        self._pending: dict[int, outbox.Mark] = {}
        self._flushing: dict[int, outbox.Mark] = {}
        self._pending_permits = 0
        self._due: asyncio.Future[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()

    async def take_permit(self) -> None:
        if self._permits.locked():
            self._wake_flusher()  # we are waiting on marks: commit them now
        await self._permits.acquire()

    def return_permit(self) -> None:
        """The message did not go (or may not have): nothing to record."""
        self._permits.release()

    def unrecorded(self, delivery_id: int) -> bool:
        """Whether parts of the row went out that the outbox does not know of yet."""
        return delivery_id in self._pending or delivery_id in self._flushing

    def add(self, mark: outbox.Mark) -> None:
        """Telegram accepted it; the permit goes back once this is committed."""
        self._pending[mark.delivery_id] = mark  # a row's later mark covers its earlier ones
        self._pending_permits += 1
        if len(self._pending) >= self.size:
            self._wake_flusher()

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            marks, self._pending = self._pending, {}
            permits, self._pending_permits = self._pending_permits, 0
            self._flushing = marks
            try:
                # The messages are out: these marks must not be lost to a brief outage.
                await transaction(
                    self.sessions,
                    lambda s: outbox.mark_parts(s, list(marks.values())),
                    attempts=20,
                )
            except BaseException:
                marks.update(self._pending)
                self._pending = marks
                self._pending_permits += permits
                raise
            finally:
                self._flushing = {}
            for _ in range(permits):
                self._permits.release()
            if any(mark.done for mark in marks.values()):
                # A chat's next row is not claimed while this one is open: it may be now.
                self.on_done()

    async def keep_flushing(self) -> None:
        """Commit every `interval`, or sooner when `size` marks wait, until `stop_flushing`.

        Never cancelled: a commit cut off halfway would leave its connection mid-transaction.
        """
        loop = asyncio.get_running_loop()
        self._stopping = False
        while not self._stopping:
            self._due = loop.create_future()
            timer = loop.call_later(self.interval, self._wake_flusher)
            try:
                await self._due
            finally:
                timer.cancel()
            try:
                await self.flush()
            except Exception:  # kept for the next round; the workers wait meanwhile
                log.exception("could not record sent messages yet")
                await asyncio.sleep(1.0)

    def stop_flushing(self) -> None:
        self._stopping = True
        self._wake_flusher()

    def _wake_flusher(self) -> None:
        if self._due is not None and not self._due.done():
            self._due.set_result(None)


class _Claimed:
    """Rows claimed and not finished, kept per chat in queue order.

    A chat is worked by one worker at a time, which takes its rows one by one, including
    those claimed meanwhile: so a chat's messages keep their order while the claimer keeps
    claiming ahead.
    """

    def __init__(self, low: int) -> None:
        self.low = low
        self.held: set[int] = set()  # claimed here and not finished
        self.waiting = 0  # of those, not taken by a worker yet
        self._chats: dict[int, deque[Delivery]] = {}
        self._busy: set[int] = set()
        self._ready: asyncio.Queue[int | None] = asyncio.Queue()
        self._room = asyncio.Event()
        self._empty = asyncio.Event()

    def add(self, rows: Iterable[Delivery]) -> None:
        for row in rows:
            if row.id in self.held:
                continue
            self.held.add(row.id)
            self.waiting += 1
            chat = self._chats.get(row.chat_id)
            if chat is None:
                self._chats[row.chat_id] = chat = deque()
                self._ready.put_nowait(row.chat_id)
            chat.append(row)

    async def next_chat(self) -> int | None:
        """A chat no other worker has (None: stop)."""
        chat_id = await self._ready.get()
        if chat_id is not None:
            self._busy.add(chat_id)
        return chat_id

    def take(self, chat_id: int) -> Delivery | None:
        """The chat's next row; None once it has none (the chat is free again)."""
        chat = self._chats[chat_id]
        if not chat:
            del self._chats[chat_id]
            self._busy.discard(chat_id)
            return None
        self._took(1)
        return chat.popleft()

    def done(self, row: Delivery) -> None:
        self.held.discard(row.id)
        if not self.held:
            self._empty.set()

    def drop(self, chat_id: int) -> list[int]:
        """Take out the chat's waiting rows; their ids."""
        chat = self._chats.get(chat_id)
        if not chat:
            return []
        ids = [row.id for row in chat]
        chat.clear()
        self._took(len(ids))
        self.held.difference_update(ids)
        if not self.held:
            self._empty.set()
        return ids

    def drop_idle(self) -> list[int]:
        """Take out the waiting rows of chats no worker has; their ids."""
        return [
            i
            for chat_id in list(self._chats)
            if chat_id not in self._busy
            for i in self.drop(chat_id)
        ]

    def stop(self, workers: int) -> None:
        """Each worker stops once the chats ready before this are done."""
        for _ in range(workers):
            self._ready.put_nowait(None)

    async def room(self, at_most: float) -> None:
        """Until fewer than `low` rows wait (at most `at_most` seconds)."""
        self._room.clear()
        if self.waiting >= self.low:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), at_most)

    async def emptied(self) -> None:
        self._empty.clear()
        if self.held:
            await self._empty.wait()

    def _took(self, n: int) -> None:
        self.waiting -= n
        if self.waiting < self.low:
            self._room.set()


class Sender:
    def __init__(
        self,
        bot: Bot,
        sessions: SessionMaker,
        *,
        rate: float = 30.0,
        per_chat: float = 1.0,
        per_group: float = GROUP_PER_SECOND,
        lease: float = 30.0,
        batch: int = 200,
        concurrency: int | None = None,
        commit_interval: float = COMMIT_INTERVAL,
        check_gap: float = 0.005,
        paid_broadcast: bool = False,
        worker_id: str | None = None,
        idle_poll: float = 2.0,
        retry_base: float = 1.0,
        retry_max: float = 600.0,
        media_store: MediaStore | None = None,
    ) -> None:
        self.bot = bot
        self.media_store = media_store
        self.sessions = sessions
        self.limiter = RateLimiter(rate, per_chat, per_group=per_group)
        self.lease = timedelta(seconds=lease)
        self.batch = batch
        self.concurrency = concurrency or default_concurrency(rate)
        self.commit_interval = commit_interval
        self.paid_broadcast = paid_broadcast
        # Sent only when on: Telegram charges Stars for what goes above the free limit.
        self._paid = True if paid_broadcast else None
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.idle_poll = idle_poll
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.stats = SenderStats()
        #: Messages a crash (even `kill -9`) may repeat, at most: in flight plus unrecorded.
        self.repeat_bound = repeat_bound(rate, self.concurrency, commit_interval)
        self._marks = _Marks(
            sessions,
            interval=commit_interval,
            size=marks_per_commit(rate, commit_interval),
            permits=self.repeat_bound,
            on_done=self.wake,
        )
        self._liveness = _Liveness(sessions, self.worker_id, self.lease, check_gap)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._photos: dict[int, bytes] = {}
        self._gone_chats: set[int] = set()
        # aiogram parses every answer as Response[Message]; pydantic caches that class only
        # weakly, and rebuilding it after garbage collections (64 times in 3,000 messages)
        # took about a tenth of the sender's CPU at the ceiling. Holding it keeps it alive.
        self._answer_type = Response[Message]  # what sendMessage and sendPhoto return
        self._no_preview = LinkPreviewOptions(is_disabled=True)  # one, not one per message

    # --- lifecycle -------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self.recover()
        self._task = asyncio.create_task(self.run(), name="sender")

    async def recover(self) -> int:
        """SQLite has one sender: rows a crashed predecessor had claimed are ours at once,
        not after their lease runs out. (On PostgreSQL another sender may hold them.)"""

        async def work(s: AsyncSession) -> int:
            if dialect_name(s) != "sqlite":
                return 0
            return await outbox.reclaim_all(s)

        return await transaction(self.sessions, work)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Send until cancelled; ``beat`` after each look at the queue (for a supervisor)."""
        while True:
            try:
                await self._pipeline(beat=beat)
            except DatabaseUnavailable as exc:
                log.warning("outbox unavailable, retrying: %s", exc)
            except Exception:  # the sender must outlive any one failure
                log.exception("sender failed; starting again")
            self._wake.clear()
            await self._woken(self.idle_poll)

    async def _woken(self, at_most: float) -> None:
        """Until `wake` (new rows), at most `at_most` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), at_most)

    # --- claiming -----------------------------------------------------------------

    async def claim(self) -> list[Delivery]:
        async def work(s: AsyncSession) -> list[Delivery]:
            return await outbox.claim(s, self.worker_id, lease=self.lease, limit=self.batch)

        return await transaction(self.sessions, work)

    async def drain_once(self) -> int:
        """Claim one batch and send it; the number of rows finished."""
        return await self._pipeline(claims=1)

    async def drain(self) -> int:
        """Send until nothing is due or held; the number of rows finished."""
        return await self._pipeline(until_idle=True)

    async def _pipeline(
        self,
        *,
        claims: int | None = None,
        until_idle: bool = False,
        beat: Callable[[], None] = lambda: None,
    ) -> int:
        """Workers send while a claimer keeps claimed rows ahead of them (up to two batches),
        so neither waits for the other; the number of rows finished.

        Runs until `claims` claims were made and sent, or (`until_idle`) nothing is due or
        held, or else until cancelled or a worker fails.
        """
        self._gone_chats.clear()
        claimed = _Claimed(low=self.batch)
        done = 0

        async def worker() -> None:
            nonlocal done
            while (chat_id := await claimed.next_chat()) is not None:
                while (row := claimed.take(chat_id)) is not None:
                    try:
                        finished = await self._deliver(row)
                    finally:
                        claimed.done(row)
                    if chat_id in self._gone_chats:
                        # Its rows were all skipped with the chat: nothing to send or release.
                        self._gone_chats.discard(chat_id)
                        claimed.drop(chat_id)
                    if finished:
                        done += 1
                    else:
                        # Keep the chat's later rows behind the one that could not go.
                        await self._release(claimed.drop(chat_id))

        flusher = asyncio.create_task(self._marks.keep_flushing(), name="sender-marks")
        workers = [
            asyncio.create_task(worker(), name="sender-worker") for _ in range(self.concurrency)
        ]
        feeding = asyncio.create_task(
            self._claim_ahead(claimed, claims, until_idle, beat), name="sender-claims"
        )
        try:
            # Until the claimer is through, or a worker failed (it stops the claiming).
            await asyncio.wait([feeding, *workers], return_when=asyncio.FIRST_COMPLETED)
            feeding.cancel()
            # Every other worker sends what it has, so that it is recorded below.
            claimed.stop(len(workers))
            results = await asyncio.gather(feeding, *workers, return_exceptions=True)
        finally:
            for task in (feeding, *workers):
                task.cancel()
            # Shielded: a sender being stopped still records what Telegram accepted, and
            # gives back the rows it claimed and did not start.
            self._marks.stop_flushing()
            await asyncio.shield(flusher)
            await asyncio.shield(self._marks.flush())
            await asyncio.shield(self._release(claimed.drop_idle(), quietly=True))
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        return done

    async def _claim_ahead(
        self, claimed: _Claimed, claims: int | None, until_idle: bool, beat: Callable[[], None]
    ) -> None:
        """Claim a batch whenever fewer than a batch of rows wait for a worker."""
        made = 0
        while True:
            if claimed.waiting >= self.batch:
                await claimed.room(self.idle_poll)
                beat()
                continue
            self._wake.clear()  # from here on, a wake-up means rows this claim may miss
            rows = await self.claim()
            made += 1
            # Our own rows come back when their lease runs out (a long chat): still held,
            # or sent and not yet recorded, they must not go again.
            claimed.add(r for r in rows if not self._marks.unrecorded(r.id))
            beat()
            if claims is not None and made >= claims:
                return
            if len(rows) == self.batch:
                continue  # more may be due
            # Nothing more is due: look again when woken, or after `idle_poll`.
            if until_idle:
                if not claimed.held:
                    return
                waits = [
                    asyncio.ensure_future(claimed.emptied()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                try:
                    await asyncio.wait(
                        waits, timeout=self.idle_poll, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for waiting in waits:
                        waiting.cancel()
            else:
                await self._woken(self.idle_poll)

    async def _release(self, ids: Iterable[int], *, quietly: bool = False) -> None:
        ids = list(ids)
        if not ids:
            return
        try:
            await transaction(self.sessions, lambda s: outbox.release(s, ids, self.worker_id))
        except Exception:
            if not quietly:
                raise
            # Stopping anyway: the rows come back when their lease runs out.
            log.warning("could not give back %d claimed rows", len(ids), exc_info=True)
            return
        self.wake()  # they are due again

    # --- sending ------------------------------------------------------------------

    async def _deliver(self, row: Delivery) -> bool:
        """Send the row's remaining parts; True when the row is finished (sent or given up)."""
        parts = outbox.parts_of(row)
        index = row.parts_sent
        while index < len(parts):
            # The permit first (it may wait for a commit), then the slot: a send leaves at
            # its booked time, so a group's 20 a minute is not crowded by permit waits.
            await self._marks.take_permit()
            accepted = False
            try:
                wait = self.limiter.reserve(row.chat_id)
                if wait > 0:
                    await asyncio.sleep(wait)
                if not await self._liveness.ask(row):
                    # Stopped, banned or taken over by another sender since we claimed it.
                    return True
                finished = await self._send_or_settle(row, index, parts[index])
                if finished is not None:
                    return finished
                accepted = True
            finally:
                if not accepted:
                    self._marks.return_permit()
            index += 1
            self.stats.sent += 1
            self.stats.sent_times.append(time.monotonic())
            now = utcnow()
            self._marks.add(outbox.Mark(row.id, index, index >= len(parts), now))
            row.parts_sent = index
        return True

    async def _send_or_settle(self, row: Delivery, index: int, part: outbox.Part) -> bool | None:
        """Send one part: None when Telegram accepted it, else whether the row is finished
        (True: failed or gone for good; False: it goes back to the queue)."""
        try:
            await self._send_part(row, part)
        except TelegramRetryAfter as exc:
            self.stats.retry_after += 1
            self.limiter.pause(exc.retry_after, row.chat_id)
            await self._retry(row, index, exc.retry_after, str(exc), count=False)
            return False
        except TelegramMigrateToChat as exc:
            await self._migrated(row, index, exc.migrate_to_chat_id)
            return False
        except TelegramForbiddenError as exc:
            await self._gone(row, index, exc.message)
            return True
        except (TelegramBadRequest, TelegramNotFound) as exc:
            if any(m in exc.message.lower() for m in GONE_MARKERS):
                await self._gone(row, index, exc.message)
            else:
                await self._fail(row, index, exc.message)
            return True
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as exc:
            self.stats.server_errors += 1
            delay = min(self.retry_base * 2.0 ** min(row.attempts, 9), self.retry_max)
            await self._retry(row, index, delay, f"{type(exc).__name__}: {exc}", count=True)
            return False
        except TelegramAPIError as exc:
            await self._fail(row, index, str(exc))
            return True
        return None

    async def _send_part(self, row: Delivery, part: outbox.Part) -> None:
        method = part.get("method", "sendMessage")
        if method == "sendPhoto" and "media" in part:
            archived = self.media_store.read(part["media"]) if self.media_store else None
            if archived is None:
                # The file is not here (another machine's store): the words still go.
                await self._send_text(row, part.get("caption") or "", part)
                return
            await self._send_photo(row, archived, f"{part['media'][:16]}.jpg", part)
        elif method == "sendPhoto":
            png = await self._chart(row.digest_id)
            if png is not None:  # else the chart is gone with its digest; the text still goes
                await self._send_photo(row, png, "chart.png", part)
        else:
            await self._send_text(row, part.get("text", ""), part)

    async def _send_photo(self, row: Delivery, data: bytes, name: str, part: outbox.Part) -> None:
        await self.bot.send_photo(
            row.chat_id,
            BufferedInputFile(data, name),
            caption=part.get("caption"),
            parse_mode="HTML",
            message_thread_id=part.get("thread_id"),
            allow_paid_broadcast=self._paid,
        )

    async def _send_text(self, row: Delivery, text: str, part: outbox.Part) -> None:
        stored = part.get("reply_markup")
        markup = InlineKeyboardMarkup.model_validate(stored) if stored is not None else None
        await self.bot.send_message(
            row.chat_id,
            text,
            parse_mode="HTML",
            link_preview_options=self._no_preview,
            reply_markup=markup,
            message_thread_id=part.get("thread_id"),
            allow_paid_broadcast=self._paid,
        )

    async def _chart(self, digest_id: int | None) -> bytes | None:
        if digest_id is None:
            return None
        if digest_id not in self._photos:
            async with self.sessions() as s:
                png = await s.scalar(select(Digest.chart_png).where(Digest.id == digest_id))
            if png is None:
                return None
            if len(self._photos) > 64:
                self._photos.clear()
            self._photos[digest_id] = png
        return self._photos[digest_id]

    # --- bookkeeping ----------------------------------------------------------------

    async def _retry(
        self, row: Delivery, index: int, delay: float, error: str, *, count: bool
    ) -> None:
        await transaction(
            self.sessions,
            lambda s: outbox.retry_later(s, row.id, index, delay, error, count=count),
        )
        row.attempts += 1 if count else 0

    async def _fail(self, row: Delivery, index: int, error: str) -> None:
        self.stats.failed += 1
        await transaction(self.sessions, lambda s: outbox.give_up(s, row.id, index, error))

    async def _migrated(self, row: Delivery, index: int, new_chat_id: int) -> None:
        """The group became a supergroup: the chat and all it has queued move there, and
        this row goes again at once, to the new id."""

        async def work(s: AsyncSession) -> None:
            await subscribers.move_chat(s, row.chat_id, new_chat_id)
            await outbox.retry_later(
                s, row.id, index, 0.0, f"chat migrated to {new_chat_id}", count=False
            )

        await transaction(self.sessions, work)

    async def _gone(self, row: Delivery, index: int, error: str) -> None:
        """The user blocked the bot or no longer exists: stop sending them anything."""
        self.stats.blocked += 1
        self._gone_chats.add(row.chat_id)
        await transaction(
            self.sessions,
            lambda s: outbox.chat_gone(s, row.id, row.subscriber_id, index, error),
        )
