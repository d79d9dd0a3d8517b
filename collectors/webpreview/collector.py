"""The web-preview collector: public t.me/s pages, no Telegram account.

One fetch of /s/<name> shows the channel header, the newest posts and whether the
preview is withheld; older posts are paged with ?before=. A post missing from a
re-read page is only a candidate: it is a deletion once its own embed page says
"Post not found". Everything goes through storage.changes like the Telethon
collector's observations, so a change seen by both is one event.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from collectors.base import CollectorBase, CollectorConfig, Covers, Job
from collectors.handles import HandleError, parse_handle
from collectors.webpreview.fetch import Fetcher, FetchError
from collectors.webpreview.parse import Page
from storage import changes, channels, coverage, status
from storage.db import SessionMaker, transaction
from storage.models import Channel, Post
from storage.observations import PostSeen, Recorded
from storage.types import utcnow

log = logging.getLogger(__name__)
# How the web collector's records name their method in the observation log.
PAGE = "t.me/s"

# Pages read back at most per catch-up (20 posts each) and per deletion sweep.
CATCH_UP_PAGES = 25
SWEEP_PAGES = 5
# Missing posts confirmed one by one, at most this many per sweep (the rest next time).
CONFIRM_MAX = 20
# A sweep starts from the page a poll read this recently instead of fetching it again.
REUSE_SECONDS = 30.0


class WebCollector(CollectorBase):
    """Polls watched channels' public previews.

    Alone (COLLECTOR=web) it is every channel's whole source. Beside the account, `covers`
    (storage.coverage.web_covers) names the channels it reads in full this pass; for the
    others only the preview's own news (withheld/restored) is recorded.
    `answers_requests()` says whether it answers /watch.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        sessions: SessionMaker,
        config: CollectorConfig | None = None,
        *,
        notify: Callable[[], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        covers: Covers | None = None,
        answers_requests: Callable[[], bool] | None = None,
        beside: CollectorBase | None = None,
        owner: str = "default",
    ) -> None:
        super().__init__(sessions, config, notify=notify, account="web", clock=clock)
        self.fetcher = fetcher
        self.owner = owner  # whose status row it reports to (status.process_row)
        self._reported = False
        self._covers = covers
        self._covered: set[int] = set()
        # The account of the same process: the preview looks at its channels too, for what
        # only the preview shows (withheld/restored).
        self.beside = beside
        self._answers = answers_requests or (lambda: True)
        self.fetch_errors = 0
        self._first_page: dict[int, tuple[float, Page]] = {}
        # Beside the account, the channel's poll schedule is the account's: the preview's
        # own looks (for withheld/restored) are timed here instead, every refresh period.
        self._next_look: dict[int, float] = {}

    def _scope(self) -> frozenset[int] | None:
        own = self.held
        if own is None or self.beside is None or self.beside.held is None:
            return own
        return own | self.beside.held

    # --- one pass ---------------------------------------------------------------

    async def run_once(self) -> None:
        self.passes += 1
        if self._answers():
            await self.process_watch_requests()
        watched = await self._load_watched()
        if self._covers is not None:
            async with self.sessions() as s:
                self._covered = await self._covers(s, [c.id for c in watched])
        now = utcnow()
        mono = time.monotonic()
        due: list[Job] = []
        for ch in watched:
            if not self._full(ch):
                if mono >= self._next_look.get(ch.id, 0.0):
                    due.append((ch.id, partial(self.poll, ch.id)))
                continue
            if self._reconcile_due(ch, mono):
                # The sweep starts from the page its poll has just read: one fetch for both
                # (as two jobs of one pass, each fetched it).
                due.append((ch.id, partial(self._poll_and_sweep, ch.id)))
            elif self._refresh_due(ch, now) or self._poll_due(ch, now):
                # One page shows the header and the newest posts: refresh and poll are one.
                due.append((ch.id, partial(self.poll, ch.id)))
        await self._run_bounded(due)
        await self._report()

    async def _poll_and_sweep(self, channel_id: int) -> None:
        await self.poll(channel_id)
        await self.reconcile(channel_id)

    def _wait_floor(self) -> float:
        return self.fetcher.budget.backoff(self.fetcher.host)

    def _full(self, ch: Channel) -> bool:
        """Whether this collector is the channel's whole source now: alone, for what the
        division gave it (no account can hold it), or for what the account cannot read."""
        if self._covers is None or ch.id in self._covered:
            return True
        return self.held is not None and ch.id in self.held

    def _readable(self, ch: Channel) -> bool:
        # What only the account was refused, the public page may still show.
        return ch.reachable or ch.unavailable_reason in coverage.ACCOUNT_REASONS

    # --- watch requests ---------------------------------------------------------

    async def watch(
        self, text: str, added_by: int | None, *, request_id: int | None = None
    ) -> tuple[Channel | None, str]:
        """Learn a channel's id from its preview's posts and watch it."""
        try:
            handle = parse_handle(text)
        except HandleError as exc:
            return await self._refuse(request_id, exc.code)
        async with self.sessions() as s:
            known = await channels.find(s, handle.username or handle.tg_id or 0)
        if known is not None and (known.reachable or handle.username is None):
            # Not for an unreachable channel: its name may lead to another channel now.
            tg_id, username, title = known.tg_id, known.username, known.title
        elif handle.username is None:
            return await self._refuse(request_id, "unknown_id")  # the preview needs a name
        else:
            try:
                page = await self.fetcher.page(handle.username)
            except FetchError as exc:
                log.warning("cannot watch %s: %s", handle, exc)
                return await self._refuse(request_id, "unreachable")
            if page.kind == "not_found":
                return await self._refuse(request_id, "not_found")
            if page.kind != "posts" or page.header.title is None:
                # A withheld preview shows Telegram's notice, not the channel: nothing to key on.
                return await self._refuse(request_id, "no_posts")
            username = page.header.username or handle.username
            title = page.header.title or handle.username
            # A new or empty channel shows no message and so no id: it is kept under its
            # name until the first message shows the id (see `_learn_id`).
            tg_id = page.channel_id or channels.pending_tg_id(username)
        return await self._add(
            text=text,
            added_by=added_by,
            request_id=request_id,
            tg_id=tg_id,
            access_hash=None,
            username=username,
            title=title,
        )

    # --- per-channel work ---------------------------------------------------------

    async def poll(self, channel_id: int) -> Recorded:
        """Read /s/<name>: the header, the preview's state and the posts since the cursor."""
        ch = await self._channel(channel_id)
        self._refresh_now.discard(channel_id)
        out = Recorded()
        name = ch.username
        full = self._full(ch)
        if not full:
            self._next_look[channel_id] = time.monotonic() + self.config.refresh_every
        if not name:
            # Without a public name there is no preview to read; the account may still see it.
            if full:
                await self._write(lambda s: self._reschedule(s, channel_id, 0))
            return out
        try:
            page = await self.fetcher.page(name)
            self._first_page[channel_id] = (time.monotonic(), page)
            out.extend(await self._apply(ch, name, page, full))
        except FetchError as exc:
            self.fetch_errors += 1
            self.last_error = str(exc)
            log.warning("web preview of @%s not read: %s", name, exc)
        if full:
            await self._write(lambda s: self._reschedule(s, channel_id, out.new_posts))
        self._caught_up.add(channel_id)
        return out

    async def _apply(self, ch: Channel, name: str, page: Page, full: bool) -> Recorded:
        now = self.clock()
        if page.kind == "unknown":
            raise FetchError(f"/s/{name}: a page that is neither a channel nor a notice")
        if page.kind == "not_found":
            if not full:
                return Recorded()
            return await self._unavailable(ch.id, changes.USERNAME_RELEASED, f"@{name}", now)
        if page.channel_id is not None and channels.is_pending(ch.tg_id):
            learned = await self._learn_id(ch, name, page.channel_id, now)
            if learned is None:
                return Recorded()
            ch = learned
        if page.channel_id is not None and page.channel_id != ch.tg_id:
            # The name now leads to another channel: ours gave it up.
            if not full:
                return Recorded()
            detail = f"@{name} now belongs to channel {page.channel_id}"
            return await self._unavailable(ch.id, changes.USERNAME_RELEASED, detail, now)
        withheld = page.kind == "withheld"
        out = await self._write(
            lambda s: changes.observe_preview(
                s, ch.id, withheld, page.withheld_text, now, source=self._source(PAGE)
            )
        )
        if not full:
            return out
        seen = page.header.seen(ch.tg_id, now)
        out.extend(
            await self._write(
                lambda s: changes.observe_channel(
                    s,
                    ch.id,
                    seen,
                    jump_pct=self.config.jump_pct,
                    jump_window=self.config.jump_window,
                    source=self._source(PAGE),
                )
            )
        )
        if withheld or not page.posts:
            return out
        if channels.is_pending(ch.tg_id):
            # Posts are logged under the channel's id: none is archived before it is known.
            log.warning("@%s: posts shown but no channel id read from them; not archived", name)
            return out
        if ch.next_poll_at is None:
            # First look at a newly watched channel: archive what the page shows, quietly.
            top = page.posts[-1].message_id
            out.extend(
                await self._write(
                    lambda s: changes.observe_posts(
                        s, ch.id, page.posts, announce=False, cursor=top, source=self._source(PAGE)
                    )
                )
            )
            return out
        posts = list(page.posts)
        before = page.before
        pages = 1
        # Catch-up after downtime: page back until the stored cursor is reached.
        while (
            before is not None
            and posts[0].message_id > ch.last_message_id + 1
            and pages < CATCH_UP_PAGES
        ):
            older = await self.fetcher.page(name, before=before)
            pages += 1
            if older.channel_id not in (None, ch.tg_id) or not older.posts:
                break
            posts = [p for p in older.posts if p.message_id < posts[0].message_id] + posts
            before = older.before
        if before is not None and posts[0].message_id > ch.last_message_id + 1:
            log.warning(
                "@%s: catch-up stopped after %d pages; posts %d..%d were not read",
                name,
                pages,
                ch.last_message_id + 1,
                posts[0].message_id - 1,
            )
        fresh = [p for p in posts if p.message_id > ch.last_message_id]
        known = await self._known_ids(ch.id, [p.message_id for p in posts])
        # Posts seen before are re-read for edits; older unknown ones are not news.
        batch = fresh + [
            p for p in posts if p.message_id <= ch.last_message_id and p.message_id in known
        ]
        top = posts[-1].message_id
        out.extend(
            await self._write(
                lambda s: changes.observe_posts(
                    s, ch.id, batch, announce=True, cursor=top, source=self._source(PAGE)
                )
            )
        )
        return out

    async def _learn_id(self, ch: Channel, name: str, tg_id: int, now: datetime) -> Channel | None:
        """The first message of a channel watched by name shows its id: keep it (see
        `changes.learn_id`; None when the name moved to another channel)."""
        source = self._source(PAGE)
        learned = await self._write(lambda s: changes.learn_id(s, ch.id, tg_id, now, source=source))
        if learned is not None:
            log.info("@%s: channel id %d learned from its first message", name, learned.tg_id)
        return learned

    async def _known_ids(self, channel_id: int, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        async with self.sessions() as s:
            rows = await s.scalars(
                select(Post.message_id).where(
                    Post.channel_id == channel_id, Post.message_id.in_(ids)
                )
            )
            return set(rows)

    async def reconcile(self, channel_id: int) -> Recorded:
        """Re-read the recent window; a known post missing from it is confirmed one by one."""
        ch = await self._channel(channel_id)
        self._reconciled[channel_id] = time.monotonic()
        out = Recorded()
        name = ch.username
        if not name:
            return out
        # Posts carry the source's dates: the window is counted on the same clock.
        since = self.clock() - self.config.reconcile_window
        shown: dict[int, PostSeen] = {}
        oldest: int | None = None
        before: int | None = None
        reuse = self._first_page.pop(channel_id, None)
        try:
            for _ in range(SWEEP_PAGES):
                if (
                    reuse is not None
                    and before is None
                    and time.monotonic() - reuse[0] < (REUSE_SECONDS)
                ):
                    page = reuse[1]  # the poll of this same pass read it a moment ago
                else:
                    page = await self.fetcher.page(name, before=before)
                if page.kind != "posts" or page.channel_id not in (None, ch.tg_id):
                    return out  # withheld or gone: the next poll records that, not deletions
                if not page.posts:
                    break
                shown.update({p.message_id: p for p in page.posts})
                oldest = page.posts[0].message_id
                before = page.before
                if before is None or page.posts[0].date < since:
                    break
            if oldest is None:
                return out
            async with self.sessions() as s:
                stored = list(
                    await s.scalars(
                        select(Post.message_id)
                        .where(
                            Post.channel_id == ch.id,
                            Post.deleted_at.is_(None),
                            Post.date >= since,
                            Post.message_id >= oldest,
                            Post.message_id <= max(shown),
                        )
                        .order_by(Post.message_id)
                    )
                )
            missing = [i for i in stored if i not in shown]
            gone = []
            for message_id in missing[:CONFIRM_MAX]:
                # Only the post's own page can say it is gone (it may be hidden from the list).
                if await self.fetcher.embed(name, message_id) == "not_found":
                    gone.append(message_id)
        except FetchError as exc:
            self.fetch_errors += 1
            self.last_error = str(exc)
            log.warning("deletion sweep of @%s stopped: %s", name, exc)
            return out
        again = [shown[i] for i in stored if i in shown]
        source = self._source(PAGE)
        out.extend(
            await self._write(lambda s: changes.observe_posts(s, ch.id, again, source=source))
        )
        if gone:
            out.extend(
                await self._write(
                    lambda s: changes.observe_deleted(
                        s, ch.id, gone, mass_at=self.config.mass_deletion, source=source
                    )
                )
            )
        return out

    # --- health --------------------------------------------------------------------

    async def _report(self) -> None:
        data = {
            "channels": len(self._by_tg),
            "passes": self.passes,
            "requests": self.fetcher.budget.requests,
            "fetch_errors": self.fetch_errors,
            "backoff_seconds": round(self._wait_floor(), 1),
            "last_error": self.last_error,
        }

        async def put(s: AsyncSession) -> None:
            await status.put_own(s, status.WEBPREVIEW, self.owner, data, first=not self._reported)

        # Health is a convenience: collecting goes on without it.
        with contextlib.suppress(Exception):
            await transaction(self.sessions, put, attempts=1)
            self._reported = True
