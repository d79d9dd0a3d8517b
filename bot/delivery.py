"""The sender: drains the outbox through the Bot API within Telegram's limits.

A row is claimed with a lease, each message part is marked sent right after
Telegram accepts it, and the row is done when its last part is. A crash (even
`kill -9`) can therefore repeat at most the one message that was in flight;
a lease that runs out hands unfinished rows to the next sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
from aiogram.types import BufferedInputFile, LinkPreviewOptions
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import DatabaseUnavailable, SessionMaker, transaction
from storage.models import Delivery, Digest, Subscriber
from storage.types import utcnow

log = logging.getLogger(__name__)

GONE_MARKERS = ("chat not found", "user is deactivated", "bot was blocked", "peer_id_invalid")


@dataclass
class RateLimiter:
    """Evenly spaced sends: overall at `rate`/s, each chat at `per_chat`/s.

    Spacing instead of bursting keeps us just under Telegram's own buckets, so a
    fan-out runs at the limit without collecting 429s.
    """

    rate: float
    per_chat: float
    clock: Callable[[], float] = time.monotonic
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
        self._next_chat[chat_id] = start + 1.0 / self.per_chat
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


class Sender:
    def __init__(
        self,
        bot: Bot,
        sessions: SessionMaker,
        *,
        rate: float = 30.0,
        per_chat: float = 1.0,
        lease: float = 30.0,
        batch: int = 200,
        concurrency: int = 16,
        worker_id: str | None = None,
        idle_poll: float = 2.0,
        retry_base: float = 1.0,
        retry_max: float = 600.0,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.limiter = RateLimiter(rate, per_chat)
        self.lease = timedelta(seconds=lease)
        self.batch = batch
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.idle_poll = idle_poll
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.stats = SenderStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._photos: dict[int, bytes] = {}
        self._gone_chats: set[int] = set()

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
            if s.bind.dialect.name != "sqlite":
                return 0
            result = await s.execute(
                update(Delivery)
                .where(Delivery.status == "sending")
                .values(status="pending", claimed_by=None, claimed_until=None)
            )
            return result.rowcount

        return await transaction(self.sessions, work)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Send until cancelled; ``beat`` after each batch (for a supervisor)."""
        while True:
            try:
                sent = await self.drain_once()
                beat()
            except DatabaseUnavailable as exc:
                log.warning("outbox unavailable, retrying: %s", exc)
                sent = 0
            except Exception:  # the sender must outlive any one batch
                log.exception("sender batch failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_poll)

    # --- claiming -----------------------------------------------------------------

    async def claim(self) -> list[Delivery]:
        now = utcnow()

        async def work(s: AsyncSession) -> list[Delivery]:
            claimable = or_(
                and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
                and_(Delivery.status == "sending", Delivery.claimed_until < now),
            )
            stmt = select(Delivery).where(claimable).order_by(Delivery.id).limit(self.batch)
            if s.bind.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(await s.scalars(stmt))
            for row in rows:
                row.status = "sending"
                row.claimed_by = self.worker_id
                row.claimed_until = now + self.lease
            return rows

        return await transaction(self.sessions, work)

    async def drain_once(self) -> int:
        """Claim a batch and send it; the number of rows finished."""
        rows = await self.claim()
        if not rows:
            return 0
        self._gone_chats.clear()
        # One worker per chat keeps a chat's messages in order; chats run side by side.
        by_chat: dict[int, list[Delivery]] = {}
        for row in rows:
            by_chat.setdefault(row.chat_id, []).append(row)
        queue: asyncio.Queue[list[Delivery]] = asyncio.Queue()
        for chat_rows in sorted(by_chat.values(), key=lambda r: r[0].id):
            queue.put_nowait(chat_rows)
        done = 0

        async def worker() -> None:
            nonlocal done
            while True:
                try:
                    chat_rows = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                for row in chat_rows:
                    if row.chat_id in self._gone_chats:
                        break  # its rows were all skipped when the chat turned out gone
                    if await self._deliver(row):
                        done += 1
                    else:
                        # Keep the chat's later rows behind the one that could not go.
                        await self._release(r.id for r in chat_rows[chat_rows.index(row) + 1 :])
                        break

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(by_chat)))))
        return done

    async def _release(self, ids: Any) -> None:
        ids = list(ids)
        if not ids:
            return

        async def work(s: AsyncSession) -> None:
            await s.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.claimed_by == self.worker_id)
                .values(status="pending", claimed_by=None, claimed_until=None)
            )

        await transaction(self.sessions, work)

    # --- sending ------------------------------------------------------------------

    async def _deliver(self, row: Delivery) -> bool:
        """Send the row's remaining parts; True when the row is finished (sent or given up)."""
        parts = row.parts
        index = row.parts_sent
        while index < len(parts):
            wait = self.limiter.reserve(row.chat_id)
            if wait > 0:
                await asyncio.sleep(wait)
            if self._lease_short(row) and not await self._hold(row):
                return True  # our lease ran out and another sender owns the row now
            try:
                await self._send_part(row, parts[index])
            except TelegramRetryAfter as exc:
                self.stats.retry_after += 1
                self.limiter.pause(exc.retry_after, row.chat_id)
                await self._retry(row, index, exc.retry_after, str(exc), count=False)
                return False
            except TelegramMigrateToChat as exc:
                await self._finish(
                    row, index, "failed", f"chat migrated to {exc.migrate_to_chat_id}"
                )
                return True
            except TelegramForbiddenError as exc:
                await self._gone(row, index, exc.message)
                return True
            except (TelegramBadRequest, TelegramNotFound) as exc:
                if any(m in exc.message.lower() for m in GONE_MARKERS):
                    await self._gone(row, index, exc.message)
                else:
                    self.stats.failed += 1
                    await self._finish(row, index, "failed", exc.message)
                return True
            except (TelegramServerError, TelegramNetworkError, TimeoutError) as exc:
                self.stats.server_errors += 1
                delay = min(self.retry_base * 2.0 ** min(row.attempts, 9), self.retry_max)
                await self._retry(row, index, delay, f"{type(exc).__name__}: {exc}", count=True)
                return False
            except TelegramAPIError as exc:
                self.stats.failed += 1
                await self._finish(row, index, "failed", str(exc))
                return True
            index += 1
            self.stats.sent += 1
            self.stats.sent_times.append(time.monotonic())
            await self._mark_part(row, index, done=index >= len(parts))
        return True

    async def _send_part(self, row: Delivery, part: dict[str, Any]) -> None:
        method = part.get("method", "sendMessage")
        if method == "sendPhoto":
            png = await self._chart(row.digest_id)
            if png is None:
                return  # the chart is gone with its digest; the text parts still go
            await self.bot.send_photo(
                row.chat_id,
                BufferedInputFile(png, "chart.png"),
                caption=part.get("caption"),
                parse_mode="HTML",
            )
            return
        await self.bot.send_message(
            row.chat_id,
            part["text"],
            parse_mode="HTML",
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_markup=part.get("reply_markup"),
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

    def _lease_short(self, row: Delivery) -> bool:
        left = (row.claimed_until or utcnow()) - utcnow()
        return left < self.lease / 2

    async def _hold(self, row: Delivery) -> bool:
        """Renew our claim right before sending; False if the row is no longer ours."""
        now = utcnow()

        async def work(s: AsyncSession) -> int:
            result = await s.execute(
                update(Delivery)
                .where(
                    Delivery.id == row.id,
                    Delivery.claimed_by == self.worker_id,
                    Delivery.status == "sending",
                )
                .values(claimed_until=now + self.lease)
            )
            return result.rowcount

        held = bool(await transaction(self.sessions, work))
        if held:
            row.claimed_until = now + self.lease
        return held

    async def _mark_part(self, row: Delivery, parts_sent: int, *, done: bool) -> None:
        now = utcnow()

        async def work(s: AsyncSession) -> None:
            values: dict[str, Any] = {"parts_sent": parts_sent, "claimed_until": now + self.lease}
            if done:
                values.update(
                    status="sent", sent_at=now, claimed_by=None, claimed_until=None, last_error=None
                )
            await s.execute(update(Delivery).where(Delivery.id == row.id).values(**values))

        # The message is out: this mark must not be lost to a brief database outage.
        await transaction(self.sessions, work, attempts=20)
        row.parts_sent = parts_sent
        row.claimed_until = now + self.lease

    async def _retry(
        self, row: Delivery, index: int, delay: float, error: str, *, count: bool
    ) -> None:
        at: datetime = utcnow() + timedelta(seconds=delay)

        async def work(s: AsyncSession) -> None:
            await s.execute(
                update(Delivery)
                .where(Delivery.id == row.id)
                .values(
                    status="pending",
                    next_attempt_at=at,
                    parts_sent=index,
                    attempts=Delivery.attempts + (1 if count else 0),
                    last_error=error[:2000],
                    claimed_by=None,
                    claimed_until=None,
                )
            )

        await transaction(self.sessions, work)
        row.attempts += 1 if count else 0

    async def _finish(self, row: Delivery, index: int, state: str, error: str) -> None:
        async def work(s: AsyncSession) -> None:
            await s.execute(
                update(Delivery)
                .where(Delivery.id == row.id)
                .values(
                    status=state,
                    parts_sent=index,
                    last_error=error[:2000],
                    attempts=Delivery.attempts + 1,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

        await transaction(self.sessions, work)

    async def _gone(self, row: Delivery, index: int, error: str) -> None:
        """The user blocked the bot or no longer exists: stop sending them anything."""
        self.stats.blocked += 1
        self._gone_chats.add(row.chat_id)
        now = utcnow()

        async def work(s: AsyncSession) -> None:
            await s.execute(
                update(Subscriber)
                .where(Subscriber.id == row.subscriber_id)
                .values(blocked_at=now, block_reason=error[:255])
            )
            await s.execute(
                update(Delivery)
                .where(
                    Delivery.subscriber_id == row.subscriber_id,
                    Delivery.status.in_(("pending", "sending")),
                )
                .values(
                    status="skipped", last_error=error[:2000], claimed_by=None, claimed_until=None
                )
            )
            await s.execute(
                update(Delivery)
                .where(Delivery.id == row.id)
                .values(parts_sent=index, attempts=Delivery.attempts + 1)
            )

        await transaction(self.sessions, work)
