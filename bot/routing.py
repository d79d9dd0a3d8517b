"""Routing: each new event becomes one outbox row per subscriber who wants it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.keywords import matches
from bot.render import ChannelRef, EventView, render_event
from bot.textsplit import CAPTION_LIMIT, visible_len
from storage import kinds, media, outbox, payloads
from storage.db import SessionMaker, dialect_name, transaction
from storage.models import Channel, Event, Post, Subscriber, Subscription
from storage.payloads import Payload
from storage.types import utcnow

log = logging.getLogger(__name__)

# Keyword filters narrow posts; what happens to the channel itself always gets through.
FILTERED_KINDS = {kinds.POST_NEW, kinds.POST_EDITED, kinds.POST_DELETED}
# Followers read, and deliveries written, per statement: a round trip per subscriber was most
# of an alert's way from the post to the first chat; pages keep a large fan-out's memory
# bounded.
ENQUEUE_CHUNK = 1000


def wants(
    sub: Subscription, subscriber: Subscriber, event: Event, payload: Payload, now: datetime
) -> bool:
    if sub.muted or subscriber.blocked_at or subscriber.banned_at:
        return False
    if subscriber.muted_until is not None and subscriber.muted_until > now:
        return False
    if not any(event.kind in kinds.GROUPS.get(g, ()) for g in sub.event_kinds):
        return False
    return event.kind not in FILTERED_KINDS or matches(sub.keywords, payload.words())


def with_photo(texts: list[str], sha256: str | None) -> list[outbox.Part]:
    """The alert's messages, led by an archived photo when there is one.

    The first text becomes the caption when it fits Telegram's 1024 units; otherwise the
    caption is its first line (the headline) and the rest follows as messages.
    """
    if sha256 is None or not texts:
        return outbox.messages(texts)
    first, rest = texts[0], texts[1:]
    if visible_len(first) <= CAPTION_LIMIT:
        return [outbox.archived_photo(sha256, first), *outbox.messages(rest)]
    headline, _, body = first.partition("\n")
    if visible_len(headline) > CAPTION_LIMIT:
        return outbox.messages(texts)
    return [outbox.archived_photo(sha256, headline), *outbox.messages([body, *rest])]


async def archived_photo(session: AsyncSession, event: Event, payload: Payload) -> str | None:
    """The archived picture an alert carries: a deleted post's photo (an album's first), or
    a channel's new avatar."""
    if isinstance(payload, payloads.PhotoChanged) and payload.after:
        return await media.channel_photo(session, event.channel_id, payload.after)
    if not isinstance(payload, payloads.PostDeleted) or event.post_id is None:
        return None
    post = await session.get(Post, event.post_id)
    if post is None:
        return None
    ids = [post.id]
    if post.grouped_id:
        ids = list(
            await session.scalars(
                select(Post.id)
                .where(Post.channel_id == post.channel_id, Post.grouped_id == post.grouped_id)
                .order_by(Post.message_id)
            )
        )
    found = await media.photo_for(session, ids)
    return found[0] if found else None


async def route_event(session: AsyncSession, t: Translator, event: Event) -> int:
    """Write the event's deliveries and mark it routed, in the caller's transaction."""
    channel = await session.get(Channel, event.channel_id)
    assert channel is not None
    now = utcnow()
    view = EventView.of(event.kind, event.payload, ChannelRef.of(channel), event.occurred_at)
    rendered: dict[str, list[outbox.Part]] = {}
    photo: str | None = None
    count = 0
    # A page of followers at a time: a channel's 10,000 subscribers and their subscriptions,
    # loaded at once, were ~30 MB of Python objects for the length of the fan-out.
    result = await session.stream(
        select(Subscription, Subscriber)
        .join(Subscriber, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.channel_id == event.channel_id)
        .order_by(Subscriber.id)
        .execution_options(yield_per=ENQUEUE_CHUNK)
    )
    async for page in result.partitions():
        queued: list[dict[str, Any]] = []
        for sub, subscriber in page:
            if not wants(sub, subscriber, event, view.payload, now):
                continue
            lang = subscriber.language
            if not rendered:
                photo = await archived_photo(session, event, view.payload)
            if lang not in rendered:
                rendered[lang] = with_photo(render_event(t, lang, view), photo)
            queued.append(
                outbox.row(
                    subscriber_id=subscriber.id,
                    chat_id=subscriber.chat_id,
                    kind="alert",
                    event_id=event.id,
                    dedupe_key=f"alert:{event.id}:{subscriber.id}",
                    parts=outbox.in_topic(rendered[lang], sub.thread_id),
                    now=now,
                )
            )
        if queued:
            count += len(await outbox.enqueue_many(session, queued))
        del page  # before the next one is loaded
    event.routed_at = now
    return count


class EventRouter:
    """Routes unrouted events as they appear; woken by the collector, polls as a safety net."""

    def __init__(
        self,
        sessions: SessionMaker,
        translator: Translator,
        *,
        notify: Callable[[], None] | None = None,
        interval: float = 2.0,
        batch: int = 50,
    ) -> None:
        self.sessions = sessions
        self.t = translator
        self._notify = notify or (lambda: None)
        self.interval = interval
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.routed = 0

    def wake(self) -> None:
        self._wake.set()

    async def route_pending(self) -> int:
        """Route every unrouted event; the number of deliveries written."""
        total = 0
        while True:

            async def work(s: AsyncSession) -> tuple[int, int]:
                stmt = (
                    select(Event)
                    .where(Event.routed_at.is_(None))
                    .order_by(Event.id)
                    .limit(self.batch)
                )
                if dialect_name(s) == "postgresql":
                    # Several processes may route; each event is taken by one of them.
                    stmt = stmt.with_for_update(skip_locked=True)
                pending = list(await s.scalars(stmt))
                written = 0
                for event in pending:
                    written += await route_event(s, self.t, event)
                return len(pending), written

            seen, written = await transaction(self.sessions, work)
            total += written
            self.routed += seen
            if written:
                self._notify()
            if seen < self.batch:
                return total

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="router")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Route until cancelled; ``beat`` after each pass (for a supervisor)."""
        while True:
            try:
                await self.route_pending()
                beat()
            except Exception:  # routing resumes on the next wake-up
                log.exception("routing failed; will retry")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
