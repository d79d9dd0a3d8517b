"""The Telethon collector: live updates, polls, catch-up, refresh and reconciliation.

It turns what Telegram says into observations and hands them to storage.changes;
it never decides what is news and never talks to the bot.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telethon import TelegramClient, errors, events, utils
from telethon.tl import functions, types

from collectors import convert
from collectors.base import CollectorBase, CollectorConfig, Covers, Job
from collectors.downloads import Downloader
from collectors.flood import Deferred, FloodGate
from collectors.handles import Handle, HandleError, parse_handle
from collectors.resolve import Resolved, ResolveError, resolve
from storage import assignments, changes, channels, coverage, status
from storage.assignments import Held
from storage.db import DatabaseUnavailable, SessionMaker, transaction
from storage.models import Channel, Post
from storage.observations import MetricsSeen, PostSeen, Recorded
from storage.types import utcnow

__all__ = ["HISTORY", "Collector", "CollectorConfig", "Deferred", "FloodGate"]

log = logging.getLogger(__name__)
T = TypeVar("T")

HISTORY = "GetHistoryRequest"
CHANNELS = "GetChannelsRequest"
FULL = "GetFullChannelRequest"
MESSAGES = "GetMessagesRequest"
RESOLVE = "ResolveUsernameRequest"
JOIN = "JoinChannelRequest"
LEAVE = "LeaveChannelRequest"
# The requests that collect: a long flood wait on one of them limits the account.
READING = (HISTORY, CHANNELS, FULL, MESSAGES)
# Telegram's answers that the account itself is limited or gone, and for how long it
# then holds no channel (a dead session or account until the next start).
ACCOUNT_LIMITS: dict[type[Exception], tuple[str, timedelta]] = {
    errors.PeerFloodError: ("PeerFlood", timedelta(days=1)),
    errors.AuthKeyUnregisteredError: ("AuthKeyUnregistered", timedelta(days=36500)),
    errors.UserDeactivatedError: ("UserDeactivated", timedelta(days=36500)),
    errors.UserDeactivatedBanError: ("UserDeactivatedBan", timedelta(days=36500)),
}


class Collector(CollectorBase):
    def __init__(
        self,
        client: TelegramClient,
        sessions: SessionMaker,
        config: CollectorConfig | None = None,
        *,
        notify: Callable[[], None] | None = None,
        gate: FloodGate | None = None,
        downloads: Downloader | None = None,
        account: str = "default",
        clock: Callable[[], datetime] | None = None,
        web_covers: Covers | None = None,
    ) -> None:
        super().__init__(sessions, config, notify=notify, account=account, clock=clock)
        self.client = client
        self.gate = gate or FloodGate()
        self.downloads = downloads
        # With the web preview beside it (COLLECTOR=both): the channels the preview reads in
        # full this pass are not polled here, and losing access to a public channel is the
        # account's loss, not the channel's (the preview says whether the public sees it).
        self._web_covers = web_covers
        self._covered: set[int] = set()
        self._lost: set[int] = set()
        self._lost_tried: dict[int, float] = {}
        self._join_full = False
        self._unresolvable: dict[str, tuple[float, str]] = {}
        self.last_update_at: datetime | None = None
        # Where collectors divide the channels: this account's own access hashes (Telegram
        # gives every account its own), the channels it is a member of, and its limit.
        self._hashes: dict[int, int] = {}
        self._member: set[int] = set()
        # Channels no access hash is known for and none could be had (no name to resolve,
        # or the name did not resolve): row id -> (when to try again, monotonic; title).
        self._unreadable: dict[int, tuple[float, str]] = {}
        self._fatal: tuple[datetime, str] | None = None
        self._reading: list[Channel] = []
        self._reported = False
        # Set on the division's lease (storage.assignments.rebalance) by the composition root.
        self.lease = 60.0

    # --- the division ------------------------------------------------------------

    def _on_hold(self, held: Held) -> None:
        # Hashes learned since the round read them stay (they do not go stale).
        self._hashes.update(held.hashes)
        self._member = set(held.joined)

    def limited(self) -> tuple[datetime, str] | None:
        now = utcnow()
        if self._fatal is not None and self._fatal[0] > now:
            return self._fatal
        waits = {kind: self.gate.remaining(kind) for kind in READING}
        kind, wait = max(waits.items(), key=lambda kv: kv[1])
        if wait > self.config.flood_handover:
            return now + timedelta(seconds=wait), f"FLOOD_WAIT {wait:.0f}s on {kind}"
        return None

    def _limited_by(self, exc: BaseException) -> bool:
        for kind, (reason, span) in ACCOUNT_LIMITS.items():
            if isinstance(exc, kind):
                log.warning("Telegram limits this account (%s): its channels go to another", reason)
                self._fatal = (utcnow() + span, reason)
                self.last_error = reason
                self._ask_round()
                return True
        return False

    def _verified(self, ch: Channel) -> bool:
        """Whether this account has its own access hash for the channel (always, undivided)."""
        return self.held is None or ch.id in self._hashes

    def _is_member(self, ch: Channel) -> bool:
        """Whether this account has joined the channel (divided: its own joins)."""
        return ch.id in self._member if self.held is not None else ch.joined

    # --- lifecycle -------------------------------------------------------------

    def attach(self) -> None:
        """Register the live-update handlers on the client."""
        self.client.flood_sleep_threshold = 0  # every wait goes through our gate and status
        self.client.add_event_handler(self._on_new, events.NewMessage())
        self.client.add_event_handler(self._on_edit, events.MessageEdited())
        self.client.add_event_handler(self._on_deleted, events.MessageDeleted())
        self.client.add_event_handler(self._on_channel, events.Raw(types.UpdateChannel))

    async def start(self) -> None:
        self.attach()
        await self._ensure_connected()
        await super().start()

    def _made_progress(self) -> bool:
        return bool(self.client.is_connected())  # a pass without Telegram is no progress

    async def _ensure_connected(self) -> bool:
        if self.client.is_connected():
            return True
        try:
            await self.client.connect()
            log.info("collector connected")
            return True
        except (OSError, ConnectionError, RuntimeError) as exc:
            self.last_error = f"connect: {exc}"
            log.warning("cannot connect to Telegram: %s", exc)
            return False

    # --- one pass ---------------------------------------------------------------

    async def run_once(self) -> None:
        """Everything that is due now: watch requests, joins, refreshes, polls, sweeps."""
        self.passes += 1
        if not await self._ensure_connected():
            await self._report()
            return
        await self.process_watch_requests()
        watched = await self._load_watched()
        await self._load_coverage(watched)
        now = utcnow()
        mono = time.monotonic()
        due: list[Job] = []
        # While GetChannels is flood-waited a due refresh stays due (and is not tried): the
        # first pass after the wait runs it.
        refresh_open = self.gate.remaining(CHANNELS) <= 0
        # Channels not caught up since this collector got them (a start, a takeover) first.
        for ch in sorted(watched, key=lambda c: c.id in self._caught_up):
            if self._unknown(ch):
                # Watched through the web preview: Telegram would refuse every request with
                # no hash (CHANNEL_INVALID), so the name is resolved first, once.
                if self._resolve_due(ch, mono):
                    due.append((ch.id, partial(self._resolve_first, ch.id)))
                continue
            if not self._verified(ch):
                # Read only with this account's own access hash: the refresh checks it (or
                # resolves the channel afresh), then the channel is caught up at once.
                due.append((ch.id, partial(self._take_up, ch.id)))
                continue
            if refresh_open and self._refresh_due(ch, now):
                due.append((ch.id, partial(self.refresh, ch.id)))
            if ch.id in self._covered:
                continue  # the web preview reads it this pass
            if self._poll_due(ch, now):
                due.append((ch.id, partial(self.poll, ch.id, ch)))
            if self._reconcile_due(ch, mono):
                due.append((ch.id, partial(self.reconcile, ch.id)))
        await self._run_bounded(due)
        # Joining waits for a first refresh (a channel must be reachable to join).
        watched = await self._load_watched()
        await self._manage_joins(watched)
        await self._report(watched)

    async def _take_up(self, channel_id: int) -> None:
        await self.refresh(channel_id)
        ch = await self._channel(channel_id)
        if channel_id in self._covered:
            return  # the web preview reads it: the refresh above checked the hash
        if self._verified(ch) and self._poll_due(ch, utcnow()) and self.holds(channel_id):
            await self.poll(channel_id)

    async def _call(self, kind: str, request: Awaitable[T]) -> T:
        return await self.gate.call(kind, request)

    # --- channels known without an access hash ------------------------------------

    def _unknown(self, ch: Channel) -> bool:
        """No access hash for the channel (or not even its id): the web preview added it."""
        return not self._hash(ch) or channels.is_pending(ch.tg_id)

    def _resolve_due(self, ch: Channel, mono: float) -> bool:
        tried = self._unreadable.get(ch.id)
        return tried is None or (bool(ch.username) and tried[0] <= mono)

    async def _resolve_first(self, channel_id: int) -> None:
        """Resolve the name of a channel no hash is known for, keep the hash it gets and
        read the channel; without a name (or when it does not resolve) say so once, and
        leave it until the name changes (or the wait for another try is over)."""
        ch = await self._channel(channel_id)
        title = ch.title or str(ch.tg_id)
        if not ch.username:
            if channel_id not in self._unreadable:
                log.warning(
                    "channel %r (id %s) has no username and no access hash for account %s: "
                    "it is not read; /watch it again by a link this account can open",
                    title,
                    ch.tg_id,
                    self.account,
                )
            self._unreadable[channel_id] = (0.0, title)
            return
        retry = (time.monotonic() + self.config.unresolvable_ttl, title)
        try:
            found = await self._resolve_name(ch.username)
        except ResolveError as exc:
            if channel_id not in self._unreadable:
                log.warning("@%s cannot be resolved (%s): it is not read", ch.username, exc.code)
            self._unreadable[channel_id] = retry
            return
        now = self.clock()
        if found.tg_id != ch.tg_id and not channels.is_pending(ch.tg_id):
            # The name leads to another channel now: ours gave it up (news once).
            self._unreadable[channel_id] = retry
            detail = f"@{ch.username} now belongs to channel {found.tg_id}"
            await self._unavailable(channel_id, changes.USERNAME_RELEASED, detail, now)
            return
        me, source = self.collector_id, self._source("resolve")

        async def keep(s: AsyncSession) -> Channel | None:
            learned = await changes.learn_id(
                s, channel_id, found.tg_id, now, access_hash=found.access_hash, source=source
            )
            if learned is not None and me is not None:
                await assignments.note_hash(s, me, channel_id, found.access_hash)
            return learned

        if await self._write(keep) is None:
            self._unreadable[channel_id] = retry
            return  # the name moved to another channel we know: ours gave it up
        if me is not None:
            self._hashes[channel_id] = found.access_hash
        self._unreadable.pop(channel_id, None)
        log.info("@%s resolved: account %s reads it from now on", ch.username, self.account)
        await self._take_up(channel_id)

    async def _resolve_name(self, username: str) -> Resolved:
        """This account's ResolveUsername; a flood wait defers, other refusals raise."""
        try:
            return await self._call(RESOLVE, resolve(self.client, Handle(username=username)))
        except ResolveError as exc:
            if exc.code == "flood":
                self.gate.block(RESOLVE, exc.seconds)
                raise Deferred(RESOLVE, exc.seconds) from None
            raise

    async def _load_coverage(self, watched: list[Channel]) -> None:
        if self._web_covers is None:
            return
        async with self.sessions() as s:
            self._covered = await self._web_covers(s, [c.id for c in watched])
            self._lost = set(await coverage.lost_by(s, self.account))

    def _last_refresh(self, ch: Channel) -> datetime | None:
        # Beside the preview the record is re-read on the account's own schedule: the
        # preview's looks do not make FAKE, SCAM or a restriction any fresher.
        return ch.api_refreshed_at if self._web_covers is not None else ch.last_refreshed_at

    def _refresh_due(self, ch: Channel, now: datetime) -> bool:
        if ch.id in self._lost:
            tried = self._lost_tried.get(ch.id)
            return tried is None or time.monotonic() - tried >= self.config.refresh_every
        return super()._refresh_due(ch, now)

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
        if self._web_covers is not None and reason in coverage.ACCOUNT_REASONS:
            ch = await self._channel(channel_id)
            if ch.username:
                self._lost_tried[channel_id] = time.monotonic()
                new = await self._write(
                    lambda s: coverage.account_lost(s, self.account, channel_id, reason, now)
                )
                if new:
                    log.warning(
                        "account %s cannot read @%s (%s): the web preview reads it instead",
                        self.account,
                        ch.username,
                        reason,
                    )
                self._lost.add(channel_id)
                self._covered.add(channel_id)
                return Recorded()
        return await super()._unavailable(
            channel_id, reason, detail, now, answer=answer, releases_username=releases_username
        )

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        result = await super()._write(work)
        if self.downloads is not None:
            self.downloads.wake()
        return result

    def _seen(self, tg_channel_id: int, message: types.Message) -> PostSeen:
        """The observation of a message; its file, if any, is offered to the downloads."""
        if self.downloads is not None:
            self.downloads.offer(tg_channel_id, message)
        return convert.post_seen(message)

    # --- watch requests --------------------------------------------------------

    async def watch(
        self, text: str, added_by: int | None, *, request_id: int | None = None
    ) -> tuple[Channel | None, str]:
        """Resolve a handle once and watch it: (channel, "added" | "already") or (None, code)."""
        try:
            handle = parse_handle(text)
            async with self.sessions() as s:
                known = await channels.find(s, handle.username or handle.tg_id or 0)
            remembered = self._unresolvable.get(str(handle).lower())
            if known is not None and known.access_hash and known.reachable:
                # Resolved before: the stored id and access hash are enough. Not for a channel
                # that cannot be reached: its name may lead to another channel now.
                resolved_id, access_hash = known.tg_id, known.access_hash
                username, title = known.username, known.title
            elif remembered is not None and remembered[0] > time.monotonic():
                raise ResolveError(remembered[1], "failed to resolve a moment ago")
            else:
                try:
                    resolved = await self._call(RESOLVE, resolve(self.client, handle))
                except ResolveError as exc:
                    if exc.code != "flood":
                        expires = time.monotonic() + self.config.unresolvable_ttl
                        self._unresolvable[str(handle).lower()] = (expires, exc.code)
                    if exc.code == "not_found" and handle.username:
                        await self._released(handle.username)
                    raise
                resolved_id, access_hash = resolved.tg_id, resolved.access_hash
                username, title = resolved.username, resolved.title
            return await self._add(
                text=text,
                added_by=added_by,
                request_id=request_id,
                tg_id=resolved_id,
                access_hash=access_hash,
                username=username,
                title=title,
            )
        except HandleError as exc:
            code = exc.code
        except ResolveError as exc:
            if exc.code == "flood":
                self.gate.block(RESOLVE, exc.seconds)
                raise Deferred(RESOLVE, exc.seconds) from None
            code = exc.code
        return await self._refuse(request_id, code)

    async def _released(self, username: str) -> None:
        """Telegram says the name leads nowhere: no stored channel holds it."""
        source = self._source("resolve")
        await self._write(
            lambda s: channels.release_username(s, username, keep=None, source=source)
        )

    # --- per-channel work --------------------------------------------------------

    def _hash(self, ch: Channel) -> int:
        # This account's own hash; else the one stored with the channel (another account's,
        # or from before accounts divided the channels), tried once and re-resolved if wrong.
        return self._hashes.get(ch.id) or ch.access_hash or 0

    def _peer(self, ch: Channel) -> types.InputPeerChannel:
        return types.InputPeerChannel(ch.tg_id, self._hash(ch))

    def _input(self, ch: Channel) -> types.InputChannel:
        return types.InputChannel(ch.tg_id, self._hash(ch))

    async def refresh(self, channel_id: int, *, again: bool = True) -> Recorded:
        """Re-read the channel's record and diff it: labels, names, about, subscribers."""
        ch = await self._channel(channel_id)
        # Taken off before asking, so that a change pushed meanwhile asks again; put back
        # when the refresh does not get through (a flood wait, a lost connection, the
        # database away): the pending "refresh now" waits with it instead of waiting for
        # the periodic refresh. Not for a bug, which would be retried every pass.
        self._refresh_now.discard(channel_id)
        try:
            return await self._refresh(ch, channel_id, again)
        except (Deferred, ConnectionError, OSError, DatabaseUnavailable):
            self._refresh_now.add(channel_id)
            raise

    async def _refresh(self, ch: Channel, channel_id: int, again: bool) -> Recorded:
        input_channel = self._input(ch)
        now = self.clock()
        try:
            result = await self._call(
                CHANNELS, self.client(functions.channels.GetChannelsRequest([input_channel]))
            )
            chat = result.chats[0] if result.chats else None
            if isinstance(chat, types.ChannelForbidden):
                if await self._banned_here(channel_id, now):
                    return Recorded()  # this account's ban: another account holds it now
                # Banned for this account: the channel is there and keeps its name.
                return await self._unavailable(
                    channel_id, "banned", None, now, answer="channelForbidden"
                )
            if not isinstance(chat, types.Channel):
                answer = type(chat).__name__ if chat is not None else "no chat"
                return await self._gone(channel_id, "deleted", answer, now)
            full = await self._call(
                FULL, self.client(functions.channels.GetFullChannelRequest(input_channel))
            )
        except errors.ChannelPrivateError:
            # A member of a private channel reads on and a banned one gets ChannelForbidden:
            # CHANNEL_PRIVATE to a member means the channel is gone. To anyone else Telegram
            # answers a private channel and a deleted one alike.
            reason = "deleted" if self._is_member(ch) else "private_or_deleted"
            return await self._gone(channel_id, reason, "CHANNEL_PRIVATE", now)
        except (errors.ChannelInvalidError, errors.ChannelIdInvalidError) as exc:
            # In Telegram's words an access hash that is not this account's: resolve afresh.
            if again and await self._resolve_own(ch):
                return await self.refresh(channel_id, again=False)
            return await self._gone(channel_id, "deleted", exc.message, now)
        seen = convert.channel_seen(chat, full.full_chat, now=now)
        regained = channel_id in self._lost
        me, verified = self.collector_id, input_channel.access_hash

        async def work(s: AsyncSession) -> Recorded:
            if regained:
                await coverage.account_regained(s, self.account, channel_id)
            if me is not None and self._hashes.get(channel_id) != verified:
                await assignments.note_hash(s, me, channel_id, verified)
            return await changes.observe_channel(
                s,
                channel_id,
                seen,
                jump_pct=self.config.jump_pct,
                jump_window=self.config.jump_window,
                source=self._source("refresh"),
            )

        out = await self._write(work)
        if regained:
            log.info("account %s reads channel %s again", self.account, channel_id)
            self._lost.discard(channel_id)
            self._lost_tried.pop(channel_id, None)
        if me is not None:
            self._hashes[channel_id] = verified
        return out

    async def _gone(self, channel_id: int, reason: str, answer: str, now: datetime) -> Recorded:
        """Deleted or private: either way the channel holds no public name any more."""
        return await self._unavailable(
            channel_id, reason, None, now, answer=answer, releases_username=True
        )

    async def _resolve_own(self, ch: Channel) -> bool:
        """The stored access hash is not this account's: resolve the channel's name with this
        account (once) and keep the hash it gets. False where there is no name to resolve."""
        if self.collector_id is None or not ch.username or ch.id in self._hashes:
            return False
        try:
            found = await self._resolve_name(ch.username)
        except ResolveError:
            return False
        if found.tg_id != ch.tg_id:
            return False  # the name now belongs to another channel
        me = self.collector_id
        await transaction(
            self.sessions, lambda s: assignments.note_hash(s, me, ch.id, found.access_hash)
        )
        self._hashes[ch.id] = found.access_hash
        return True

    async def _banned_here(self, channel_id: int, now: datetime) -> bool:
        """The channel banned this account: note it and ask the division for another holder.
        True when another account may hold it (the ban is not news about the channel)."""
        me = self.collector_id
        if me is None:
            return False
        lease = self.lease
        others = await transaction(
            self.sessions, lambda s: assignments.note_banned(s, me, channel_id, now, lease)
        )
        self._member.discard(channel_id)
        if others:
            log.warning("channel %s banned this account; another account takes it", channel_id)
            self._ask_round()
        return others

    async def _first_look(self, channel: Channel) -> None:
        # The record first, so that labels it has when watched are its state, and a label
        # added afterwards is news even when the first periodic refresh comes late.
        await self.refresh(channel.id)
        await self.poll(channel.id)

    async def poll(self, channel_id: int, loaded: Channel | None = None) -> Recorded:
        """Read history after the stored cursor, in order, without gaps.

        `loaded`: the row as this pass loaded it (a read of the database less per poll). Only
        this collector's polls move the cursor and schedule, so it is not behind on them; a
        cursor behind a live update costs a re-read that the archive knows already."""
        ch = loaded if loaded is not None else await self._channel(channel_id)
        peer = self._peer(ch)
        try:
            # Never polled before (even an empty channel is polled once): archive quietly.
            if ch.next_poll_at is None:
                out = await self._backfill(ch, peer)
            else:
                out = await self._catch_up(ch, peer)
        except errors.ChannelPrivateError:
            # Private, deleted or banned for this account alike: GetChannels tells them apart.
            await transaction(self.sessions, lambda s: self._reschedule(s, channel_id, 0))
            # Private for everyone, or a ban of this account only: the record tells.
            return await self.refresh(channel_id)
        except Deferred:
            await transaction(self.sessions, lambda s: self._reschedule(s, channel_id, 0))
            raise
        self._caught_up.add(channel_id)
        return out

    async def _record(
        self,
        ch: Channel,
        posts: list[PostSeen],
        top: int,
        *,
        announce: bool,
        last: bool,
        found: int = 0,
    ) -> Recorded:
        """Archive a stretch of history and move the cursor; the last stretch also
        schedules the next poll, in the same transaction."""

        async def work(s: AsyncSession) -> Recorded:
            rec = await changes.observe_posts(
                s, ch.id, posts, announce=announce, cursor=top, source=self._source("history")
            )
            if last:
                await self._reschedule(s, ch.id, found + rec.new_posts)
            return rec

        return await self._write(work)

    async def _backfill(self, ch: Channel, peer: types.InputPeerChannel) -> Recorded:
        # A newly watched channel: archive its recent posts quietly; they are not news.
        messages = await self._call(
            HISTORY, self.client.get_messages(peer, limit=self.config.backfill)
        )
        posts = [self._seen(ch.tg_id, m) for m in messages if convert.is_post(m)]
        top = max((m.id for m in messages), default=0)
        return await self._record(ch, posts, top, announce=False, last=True)

    async def _catch_up(self, ch: Channel, peer: types.InputPeerChannel) -> Recorded:
        out = Recorded()
        batch: list[PostSeen] = []
        top = ch.last_message_id
        # Telethon sleeps a second between pages of an unbounded read; polls are paced by
        # our own schedule and flood gate instead, so most polls cost two quick requests.
        messages = self.client.iter_messages(
            peer, min_id=ch.last_message_id, reverse=True, wait_time=0
        )
        try:
            async for message in messages:
                top = max(top, message.id)
                if convert.is_post(message):
                    batch.append(self._seen(ch.tg_id, message))
                if len(batch) >= 500:
                    out.extend(await self._record(ch, batch, top, announce=True, last=False))
                    batch = []
        except errors.FloodWaitError as exc:
            # Keep what was read: the cursor stops right after it, so nothing is skipped.
            self.gate.block(HISTORY, exc.seconds)
            if batch:
                out.extend(await self._record(ch, batch, top, announce=True, last=False))
            raise Deferred(HISTORY, exc.seconds) from None
        out.extend(
            await self._record(ch, batch, top, announce=True, last=True, found=out.new_posts)
        )
        return out

    def _wait_floor(self) -> float:
        return self.gate.remaining(HISTORY)

    async def reconcile(self, channel_id: int) -> Recorded:
        """Re-fetch recent known posts: vanished ones are deletions, changed ones edits."""
        ch = await self._channel(channel_id)
        # Posts carry Telegram's dates: the window is counted on the same clock.
        since = self.clock() - self.config.reconcile_window
        async with self.sessions() as s:
            ids = list(
                await s.scalars(
                    select(Post.message_id)
                    .where(Post.channel_id == ch.id, Post.deleted_at.is_(None), Post.date >= since)
                    .order_by(Post.message_id)
                )
            )
        out = Recorded()
        peer = self._peer(ch)
        gone: list[int] = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            try:
                found = await self._call(MESSAGES, self.client.get_messages(peer, ids=chunk))
            except errors.ChannelPrivateError:
                return await self.refresh(channel_id)  # GetChannels tells why
            present = [m for m in found if convert.is_post(m)]
            gone.extend(i for i, m in zip(chunk, found, strict=True) if m is None)
            seen = [self._seen(ch.tg_id, m) for m in present]
            metrics = [convert.metrics_seen(m) for m in present]

            async def work(
                s: AsyncSession,
                seen: list[PostSeen] = seen,
                metrics: list[MetricsSeen] = metrics,
            ) -> Recorded:
                await changes.observe_metrics(s, ch.id, metrics)
                return await changes.observe_posts(s, ch.id, seen, source=self._source("reconcile"))

            out.extend(await self._write(work))
        if gone:
            out.extend(
                await self._write(
                    lambda s: changes.observe_deleted(
                        s,
                        ch.id,
                        gone,
                        mass_at=self.config.mass_deletion,
                        source=self._source("reconcile"),
                    )
                )
            )
        self._reconciled[channel_id] = time.monotonic()
        return out

    async def _manage_joins(self, watched: list[Channel]) -> None:
        """Join watched channels up to the cap (live updates); leave those no longer ours:
        unwatched ones, and, where accounts divide the channels, those another one holds."""
        async with self.sessions() as s:
            if self.held is None:
                stale = list(
                    await s.scalars(
                        select(Channel).where(Channel.watched.is_(False), Channel.joined.is_(True))
                    )
                )
            else:
                # Leaving frees the join slot for channels this account holds.
                gone = self._member - {c.id for c in watched}
                stale = list(await s.scalars(select(Channel).where(Channel.id.in_(gone))))
        for ch in stale:
            with contextlib.suppress(Deferred, errors.RPCError):
                await self._call(
                    LEAVE, self.client(functions.channels.LeaveChannelRequest(self._input(ch)))
                )
            await self._set_joined(ch.id, False)
        if self.held is None:
            joined = sum(1 for c in watched if c.joined)
        else:
            joined = len(self._member)
        if self._join_full:
            return
        tried = 0
        for ch in watched:
            if joined >= self.config.join_cap or tried >= self.config.joins_per_pass:
                break
            if self._is_member(ch) or not ch.reachable or ch.last_refreshed_at is None:
                continue
            if ch.id in self._lost or not self._verified(ch) or self._unknown(ch):
                continue
            tried += 1
            try:
                await self._call(
                    JOIN, self.client(functions.channels.JoinChannelRequest(self._input(ch)))
                )
            except Deferred:
                return
            except errors.ChannelsTooMuchError:
                log.warning("Telegram refuses more joins; the rest are polled")
                self._join_full = True
                return
            except errors.RPCError as exc:
                log.info("cannot join %s: %s", ch.tg_id, exc)
                continue
            await self._set_joined(ch.id, True)
            joined += 1

    async def _set_joined(self, channel_id: int, joined: bool) -> None:
        me = self.collector_id
        if me is not None:
            await transaction(
                self.sessions, lambda s: assignments.note_joined(s, me, channel_id, joined)
            )
            (self._member.add if joined else self._member.discard)(channel_id)
            return

        async def work(s: AsyncSession) -> None:
            ch = await s.get(Channel, channel_id)
            if ch is not None:
                ch.joined = joined

        await transaction(self.sessions, work)

    # --- live updates -------------------------------------------------------------

    def _known(self, peer: object) -> int | None:
        """Our channel's row id, for a channel this collector holds now."""
        tg_id = getattr(peer, "channel_id", None)
        channel_id = self._by_tg.get(tg_id) if tg_id is not None else None
        return channel_id if channel_id is not None and self.holds(channel_id) else None

    async def _on_new(self, event: events.NewMessage.Event) -> None:
        await self._live_post(event.message)

    async def _on_edit(self, event: events.MessageEdited.Event) -> None:
        await self._live_post(event.message)

    async def _live_post(self, message: types.Message) -> None:
        channel_id = self._known(message.peer_id)
        if channel_id is None or not convert.is_post(message):
            return
        self.last_update_at = utcnow()
        seen = self._seen(message.peer_id.channel_id, message)
        source = self._source("live")
        await self._guard(
            self._write(lambda s: changes.observe_posts(s, channel_id, [seen], source=source))
        )

    async def _on_deleted(self, event: events.MessageDeleted.Event) -> None:
        if event.chat_id is None:
            return
        bare_id, _ = utils.resolve_id(event.chat_id)  # from the Bot API's -100… form
        channel_id = self._known(types.PeerChannel(bare_id))
        if channel_id is None:
            return
        self.last_update_at = utcnow()
        ids = list(event.deleted_ids)
        await self._guard(
            self._write(
                lambda s: changes.observe_deleted(
                    s,
                    channel_id,
                    ids,
                    mass_at=self.config.mass_deletion,
                    source=self._source("live"),
                )
            )
        )

    async def _on_channel(self, update: types.UpdateChannel) -> None:
        # UpdateChannel says only "something changed": re-read the channel and diff it.
        channel_id = self._known(types.PeerChannel(update.channel_id))
        if channel_id is None:
            return
        self.last_update_at = utcnow()
        self._refresh_now.add(channel_id)
        self.wake()

    async def _guard(self, work: Awaitable[object]) -> None:
        try:
            await work
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("recording a live update failed; the next poll will catch it")

    # --- health --------------------------------------------------------------------

    async def _report(self, watched: list[Channel] | None = None) -> None:
        now = utcnow()
        # Over the channels this collector reads (all, undivided; its own, divided): another
        # collector's backlog is not this one's lag. Without Telegram the last pass's rows
        # tell it (their next polls have not moved since).
        if watched is not None:
            self._reading = watched
        overdue = min(
            (c.next_poll_at for c in self._reading if c.reachable and c.next_poll_at),
            default=None,
        )
        lag = max(0.0, (now - overdue).total_seconds()) if overdue else 0.0
        data = {
            "connected": self.client.is_connected(),
            "channels": len(self._by_tg),
            "passes": self.passes,
            "lag_seconds": round(lag, 1),
            "flood_waits": self.gate.active(),
            "flood_wait_counts": dict(self.gate.total),
            "join_full": self._join_full,
            "last_update_at": self.last_update_at.isoformat() if self.last_update_at else None,
            "last_error": self.last_error,
            # Shown on /status: channels this account cannot read and will not ask about.
            "unreadable": sorted(
                title for cid, (_, title) in self._unreadable.items() if cid in self._by_tg.values()
            ),
        }
        first = not self._reported

        async def put(s: AsyncSession) -> None:
            await status.put_own(s, status.COLLECTOR, self.account, data, first=first)

        with contextlib.suppress(Exception):
            await transaction(self.sessions, put, attempts=1)
            self._reported = True
