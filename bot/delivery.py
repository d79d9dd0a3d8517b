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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox, subscribers
from storage.db import DatabaseUnavailable, SessionMaker, transaction
from storage.mediastore import MediaStore
from storage.models import Delivery, Digest
from storage.types import utcnow

log = logging.getLogger(__name__)

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
        concurrency: int = 16,
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
            return await outbox.reclaim_all(s)

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
        async def work(s: AsyncSession) -> list[Delivery]:
            return await outbox.claim(s, self.worker_id, lease=self.lease, limit=self.batch)

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

    async def _release(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            await transaction(self.sessions, lambda s: outbox.release(s, ids, self.worker_id))

    # --- sending ------------------------------------------------------------------

    async def _deliver(self, row: Delivery) -> bool:
        """Send the row's remaining parts; True when the row is finished (sent or given up)."""
        parts = row.parts
        index = row.parts_sent
        while index < len(parts):
            wait = self.limiter.reserve(row.chat_id)
            if wait > 0:
                await asyncio.sleep(wait)
            if not await self._still_ours(row):
                # Stopped, banned or taken over by another sender since we claimed it.
                return True
            try:
                await self._send_part(row, parts[index])
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
            index += 1
            self.stats.sent += 1
            self.stats.sent_times.append(time.monotonic())
            await self._mark_part(row, index, done=index >= len(parts))
        return True

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
        )

    async def _send_text(self, row: Delivery, text: str, part: outbox.Part) -> None:
        await self.bot.send_message(
            row.chat_id,
            text,
            parse_mode="HTML",
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_markup=part.get("reply_markup"),
            message_thread_id=part.get("thread_id"),
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

    async def _still_ours(self, row: Delivery) -> bool:
        """Checked before every part; renews the lease when it runs short."""
        now = utcnow()
        if (row.claimed_until or now) - now >= self.lease / 2:
            async with self.sessions() as s:
                return await outbox.still_ours(s, row.id, self.worker_id)
        until = now + self.lease
        held = await transaction(
            self.sessions, lambda s: outbox.renew(s, row.id, self.worker_id, until)
        )
        if held:
            row.claimed_until = until
        return held

    async def _mark_part(self, row: Delivery, parts_sent: int, *, done: bool) -> None:
        until = utcnow() + self.lease
        # The message is out: this mark must not be lost to a brief database outage.
        await transaction(
            self.sessions,
            lambda s: outbox.mark_part(s, row.id, parts_sent, done=done, lease_until=until),
            attempts=20,
        )
        row.parts_sent = parts_sent
        row.claimed_until = until

    async def _retry(
        self, row: Delivery, index: int, delay: float, error: str, *, count: bool
    ) -> None:
        at: datetime = utcnow() + timedelta(seconds=delay)
        await transaction(
            self.sessions, lambda s: outbox.retry_later(s, row.id, index, at, error, count=count)
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
                s, row.id, index, utcnow(), f"chat migrated to {new_chat_id}", count=False
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
