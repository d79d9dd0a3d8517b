"""Routing: each new event becomes one outbox row per subscriber who wants it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.keywords import matches
from bot.render import ChannelRef, EventView, render_event
from storage import kinds, outbox
from storage.db import SessionMaker, transaction
from storage.models import Channel, Event, Subscriber, Subscription
from storage.types import utcnow

log = logging.getLogger(__name__)

# Keyword filters narrow posts; what happens to the channel itself always gets through.
FILTERED_KINDS = {kinds.POST_NEW, kinds.POST_EDITED, kinds.POST_DELETED}


def event_text(event: Event) -> str:
    p = event.payload
    return " ".join(str(p.get(k) or "") for k in ("text", "before", "after"))


def channel_ref(channel: Channel) -> ChannelRef:
    return ChannelRef(tg_id=channel.tg_id, title=channel.title, username=channel.username)


def wants(sub: Subscription, subscriber: Subscriber, event: Event, now: Any) -> bool:
    if sub.muted or subscriber.blocked_at or subscriber.banned_at:
        return False
    if subscriber.muted_until is not None and subscriber.muted_until > now:
        return False
    if not any(event.kind in kinds.GROUPS.get(g, ()) for g in sub.event_kinds):
        return False
    return event.kind not in FILTERED_KINDS or matches(sub.keywords, event_text(event))


def text_parts(texts: list[str]) -> list[dict[str, Any]]:
    return [{"method": "sendMessage", "text": t} for t in texts]


async def route_event(session: AsyncSession, t: Translator, event: Event) -> int:
    """Write the event's deliveries and mark it routed, in the caller's transaction."""
    channel = await session.get(Channel, event.channel_id)
    assert channel is not None
    now = utcnow()
    rows = await session.execute(
        select(Subscription, Subscriber)
        .join(Subscriber, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.channel_id == event.channel_id)
        .order_by(Subscriber.id)
    )
    view = EventView(
        kind=event.kind,
        payload=event.payload,
        channel=channel_ref(channel),
        occurred_at=event.occurred_at,
    )
    rendered: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for sub, subscriber in rows:
        if not wants(sub, subscriber, event, now):
            continue
        lang = subscriber.language
        if lang not in rendered:
            rendered[lang] = text_parts(render_event(t, lang, view))
        new = await outbox.enqueue(
            session,
            subscriber_id=subscriber.id,
            chat_id=subscriber.chat_id,
            kind="alert",
            event_id=event.id,
            dedupe_key=f"alert:{event.id}:{subscriber.id}",
            parts=rendered[lang],
        )
        count += new is not None
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
                if s.bind.dialect.name == "postgresql":
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
