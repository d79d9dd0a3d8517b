"""Media downloads: a queue of its own, so a nine-minute video never delays an alert.

Rows are queued by storage with their post (`storage.media`); this worker fetches them
with Telethon's own `download_media` into the content-addressed store. It keeps the
message objects the collector has just seen, so a fresh post's file is fetched without
asking Telegram for the message again; after a restart it asks (GetMessages), which
also gives a fresh file reference. Flood waits go through the collector's gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telethon import TelegramClient, errors
from telethon.tl import types

from collectors.flood import Deferred, FloodGate
from storage import ledger, media, status
from storage.db import SessionMaker, transaction
from storage.mediastore import MediaStore
from storage.models import Channel, MediaFile

log = logging.getLogger(__name__)

FILE = "GetFileRequest"
MESSAGES = "GetMessagesRequest"
_CACHE = 2_000


@dataclass(frozen=True)
class DownloadConfig:
    max_file_bytes: int = 20 * 1024 * 1024
    kinds: frozenset[str] = frozenset(k for k in media.DOWNLOADABLE if k != "sticker")
    max_total_bytes: int | None = None
    concurrency: int = 2
    attempts: int = 6
    retry_base: float = 5.0
    idle_poll: float = 5.0
    # A fresh post's alert goes out first: its road takes a tenth of a second, and a
    # download started at once would compete with it for the same event loop.
    yield_to_alerts: float = 0.5


class StoreFull(Exception):
    """MEDIA_MAX_TOTAL_GB is reached: new downloads wait (nothing archived is deleted)."""


class NoAccessHash(Exception):
    """The account has no access hash for the channel yet (the web preview added it):
    Telegram would refuse the request, so the file waits until the collector resolves it."""


class Downloader:
    def __init__(
        self,
        client: TelegramClient,
        sessions: SessionMaker,
        store: MediaStore,
        config: DownloadConfig | None = None,
        *,
        gate: FloodGate | None = None,
        warn_moderators: Callable[[str], Any] | None = None,
        source: str = ledger.DEFAULT_SOURCE,
        owner: str = "default",
    ) -> None:
        self.source = source
        self.owner = owner  # whose status row it reports to (status.process_row)
        self._reported = False
        self.client = client
        self.sessions = sessions
        self.store = store
        self.config = config or DownloadConfig()
        self.gate = gate or FloodGate()
        self._warn = warn_moderators
        self._messages: OrderedDict[tuple[int, int], types.Message] = OrderedDict()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stored_bytes: int | None = None
        self._warned_full = False
        self.stored = 0
        # Where accounts divide the channels the downloads follow the account's share and
        # its own access hashes (the composition root points these at its collector).
        self.scope: Callable[[], frozenset[int] | None] = lambda: None
        self.peer_of: Callable[[Channel], types.InputPeerChannel] = _peer

    # --- what the collector hands over ------------------------------------------------

    def offer(self, tg_channel_id: int, message: object) -> None:
        """A message just seen; kept for a while so its file needs no second fetch."""
        if isinstance(message, types.Message) and message.media is not None:
            self._messages[(tg_channel_id, message.id)] = message
            self._messages.move_to_end((tg_channel_id, message.id))
            while len(self._messages) > _CACHE:
                self._messages.popitem(last=False)
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Run in a task of its own (benchmarks, tests); chanwatch supervises `run`."""
        self._task = asyncio.create_task(self.run(), name="downloads")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Download until cancelled; ``beat`` after each pass (for a supervisor)."""
        removed = self.store.prepare()
        if removed:
            log.info("removed %d partial downloads left by a crash", removed)
        while True:
            try:
                done = await self.run_pending()
                beat()
            except Exception:  # the queue is durable; the next pass takes it up again
                log.exception("download pass failed")
                done = 0
            if done:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.idle_poll)
            await asyncio.sleep(self.config.yield_to_alerts)

    # --- the queue ------------------------------------------------------------------

    async def run_pending(self) -> int:
        """Fetch what is due, a few at a time; how many rows were settled."""
        async with self.sessions() as s:
            rows = await media.due(s, self.config.concurrency * 4, channel_ids=self.scope())
        if not rows:
            return 0
        limit = asyncio.Semaphore(self.config.concurrency)

        async def one(row: MediaFile) -> bool:
            async with limit:
                return await self._settle(row)

        settled = await asyncio.gather(*(one(r) for r in rows))
        await self._report()
        return sum(settled)

    async def _settle(self, row: MediaFile) -> bool:
        """Fetch one row; True when it reached a final status."""
        if row.kind not in self.config.kinds:
            await self._finish(row, media.Status.SKIPPED, error="kind not in MEDIA_KINDS")
            return True
        try:
            await self._check_room()
            if row.role == media.CHANNEL_PHOTO:
                await self._channel_photo(row)
            else:
                await self._post_file(row)
            return True
        except StoreFull as exc:
            await self._later(row, self.config.idle_poll * 60, str(exc), count=False)
        except NoAccessHash as exc:
            # A moment's wait: no request is made until the hash is there.
            await self._later(row, self.config.idle_poll, str(exc), count=False)
        except Deferred as exc:
            await self._later(row, exc.seconds, str(exc), count=False)
        except (errors.RPCError, OSError, TimeoutError, ConnectionError) as exc:
            if row.attempts + 1 >= self.config.attempts:
                await self._finish(row, media.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
                return True
            delay = self.config.retry_base * 2.0**row.attempts
            await self._later(row, delay, f"{type(exc).__name__}: {exc}", count=True)
        return False

    async def _post_file(self, row: MediaFile) -> None:
        channel = await self._channel(row.channel_id)
        message = self._messages.get((channel.tg_id, row.message_id))
        if message is None:
            message = await self._fetch_message(channel, row.message_id)
        if message is None or _media_id(message) != row.tg_id:
            # Deleted (or its media edited away) before we could fetch it.
            await self._finish(row, media.Status.LOST, error="gone from Telegram before download")
            return
        too_large = row.size is not None and row.size > self.config.max_file_bytes
        try:
            sha, size = await self._download(message, thumb=too_large)
        except (errors.FileReferenceExpiredError, errors.FilerefUpgradeNeededError):
            # References expire; the message fetched again carries a fresh one.
            fresh = await self._fetch_message(channel, row.message_id)
            if fresh is None or _media_id(fresh) != row.tg_id:
                await self._finish(row, media.Status.LOST, error="gone from Telegram")
                return
            sha, size = await self._download(fresh, thumb=too_large)
        if too_large:
            # Telegram's recorded size stays on the row; the thumbnail stands in for the file.
            error = None if sha else "no thumbnail offered"
            await self._finish(row, media.Status.TOO_LARGE, thumb_sha256=sha, error=error)
        elif sha is None:
            await self._finish(row, media.Status.FAILED, error="Telegram sent no file")
        else:
            await self._finish(row, media.Status.STORED, sha256=sha, stored_bytes=size)

    async def _channel_photo(self, row: MediaFile) -> None:
        channel = await self._channel(row.channel_id)
        entity = await self.gate.call(
            "GetChannelsRequest", self.client.get_entity(self._peer(channel))
        )
        current = getattr(getattr(entity, "photo", None), "photo_id", None)
        if current != row.tg_id:
            await self._finish(row, media.Status.LOST, error="the channel has another photo now")
            return
        temp = self.store.temp_path()
        try:
            got = await self.gate.call(
                FILE, self.client.download_profile_photo(entity, file=str(temp), download_big=True)
            )
            if got is None:
                await self._finish(row, media.Status.LOST, error="no photo to download")
                return
            sha, size = self.store.commit(temp)
        finally:
            self.store.discard(temp)
        await self._finish(row, media.Status.STORED, sha256=sha, stored_bytes=size)

    async def _download(self, message: types.Message, *, thumb: bool) -> tuple[str | None, int]:
        """Into the store; (SHA-256, bytes), or (None, 0) when there was nothing to fetch."""
        temp = self.store.temp_path()
        try:
            kwargs: dict[str, Any] = {"thumb": -1} if thumb else {}
            got = await self.gate.call(
                FILE, self.client.download_media(message, file=str(temp), **kwargs)
            )
            if got is None or not temp.exists():
                return None, 0
            sha, size = self.store.commit(temp)
        finally:
            self.store.discard(temp)
        if self._stored_bytes is not None:
            self._stored_bytes += size
        self.stored += 1
        return sha, size

    async def _fetch_message(self, channel: Channel, message_id: int) -> types.Message | None:
        found = await self.gate.call(
            MESSAGES, self.client.get_messages(self._peer(channel), ids=message_id)
        )
        return found if isinstance(found, types.Message) else None

    def _peer(self, channel: Channel) -> types.InputPeerChannel:
        peer = self.peer_of(channel)
        if not peer.access_hash:
            raise NoAccessHash(f"no access hash for channel {channel.tg_id} yet")
        return peer

    async def _channel(self, channel_id: int) -> Channel:
        async with self.sessions() as s:
            channel = await s.get(Channel, channel_id)
        if channel is None:
            raise LookupError(f"channel {channel_id} is gone from the database")
        return channel

    # --- the store's size --------------------------------------------------------------

    async def _check_room(self) -> None:
        cap = self.config.max_total_bytes
        if cap is None:
            return
        if self._stored_bytes is None:
            self._stored_bytes = await asyncio.to_thread(self.store.total_bytes)
        used = self._stored_bytes
        if used >= cap:
            raise StoreFull(f"media store full ({used / 2**30:.2f} of {cap / 2**30:.2f} GB)")
        if used >= 0.9 * cap and not self._warned_full and self._warn is not None:
            self._warned_full = True
            await self._warn(f"{used / 2**30:.2f} of {cap / 2**30:.2f} GB")

    # --- bookkeeping ------------------------------------------------------------------

    async def _finish(self, row: MediaFile, state: media.Status, **fields: Any) -> None:
        kept = fields.get("sha256") or fields.get("thumb_sha256")

        async def work(s: AsyncSession) -> None:
            await media.finish(s, row.id, state, **fields)
            channel = await s.get(Channel, row.channel_id)
            if kept and channel is not None:
                # The file's hash joins the observation log with the row that says it is kept.
                size = fields.get("stored_bytes") or self.store.path(kept).stat().st_size
                mime = row.mime_type if fields.get("sha256") else "image/jpeg"
                await ledger.note_media(
                    s, channel, row.message_id, kept, size, mime, source=self.source
                )

        await transaction(self.sessions, work)

    async def _later(self, row: MediaFile, delay: float, error: str, *, count: bool) -> None:
        async def work(s: AsyncSession) -> None:
            await media.retry_later(s, row.id, delay, error, count=count)

        await transaction(self.sessions, work)

    async def _report(self) -> None:
        async def work(s: AsyncSession) -> None:
            counts = await media.summary(s)
            counts["full"] = int(
                self.config.max_total_bytes is not None
                and (self._stored_bytes or 0) >= self.config.max_total_bytes
            )
            await status.put_own(s, status.DOWNLOADS, self.owner, counts, first=not self._reported)

        with contextlib.suppress(Exception):
            await transaction(self.sessions, work, attempts=1)
            self._reported = True


def _peer(channel: Channel) -> types.InputPeerChannel:
    return types.InputPeerChannel(channel.tg_id, channel.access_hash or 0)


def _media_id(message: types.Message) -> int:
    """Telegram's id of the message's photo or document; 0 when it has neither."""
    m = message.media
    if isinstance(m, types.MessageMediaPhoto) and m.photo is not None:
        return int(getattr(m.photo, "id", 0))
    if isinstance(m, types.MessageMediaDocument) and m.document is not None:
        return int(getattr(m.document, "id", 0))
    return 0
