"""The delivery outbox: every producer enqueues here, the sender claims and marks here.

A row moves pending → sending (claimed with a lease) → sent, or ends failed (Telegram
refused it for good) or skipped (its chat is gone, or its subscriber stopped or was
banned). Each row holds its messages as *parts*, sent in order; `parts_sent` counts
those Telegram has accepted, recorded by the sender in batches (`mark_parts`), so a crash
repeats at most what was in flight or not yet recorded (see bot/delivery.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, Unpack, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage import locks
from storage.db import database_now, dialect_name, insert_ignore_many, rows_matched
from storage.models import Delivery, Subscriber
from storage.types import utcnow

ERROR_MAX = 2000


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


OPEN = (Status.PENDING, Status.SENDING)


class Part(TypedDict):
    """One Bot API call: `sendMessage` (HTML `text`) or `sendPhoto` (HTML `caption`).

    A `sendPhoto` sends the archived file named by `media` (its SHA-256), or else the
    digest's chart.
    """

    method: str
    text: NotRequired[str]
    caption: NotRequired[str | None]
    media: NotRequired[str]
    #: An inline keyboard: InlineKeyboardMarkup as JSON.
    reply_markup: NotRequired[dict[str, Any] | None]
    #: The forum topic (message_thread_id) the message goes to.
    thread_id: NotRequired[int]


def message(text: str, reply_markup: dict[str, Any] | None = None) -> Part:
    part = Part(method="sendMessage", text=text)
    if reply_markup is not None:
        part["reply_markup"] = reply_markup
    return part


def parts_of(row: Delivery) -> list[Part]:
    """The row's Bot API calls."""
    # The JSON column is typed as plain dicts; it holds the Parts that enqueue was given.
    return cast(list[Part], row.parts)


def messages(texts: Iterable[str]) -> list[Part]:
    return [message(text) for text in texts]


def chart(caption: str | None) -> Part:
    return Part(method="sendPhoto", caption=caption)


def archived_photo(sha256: str, caption: str) -> Part:
    return Part(method="sendPhoto", media=sha256, caption=caption)


def in_topic(parts: Sequence[Part], thread_id: int | None) -> list[Part]:
    """The same messages, posted in a forum topic (unchanged when there is none)."""
    if thread_id is None:
        return list(parts)
    return [Part(**part, thread_id=thread_id) for part in parts]


# --- producing ------------------------------------------------------------------------


class Addressed(TypedDict):
    """What a producer says of one delivery: to whom, what, and why (its event or digest)."""

    subscriber_id: int
    chat_id: int
    kind: str
    dedupe_key: str
    parts: Sequence[Part]
    event_id: NotRequired[int | None]
    digest_id: NotRequired[int | None]


def row(*, now: datetime | None = None, **delivery: Unpack[Addressed]) -> dict[str, Any]:
    """One outbox row as every producer (alerts, digests, broadcasts) writes it."""
    now = now or utcnow()
    return {
        "event_id": None,
        "digest_id": None,
        **delivery,
        "parts": list(delivery["parts"]),
        "parts_sent": 0,
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Add the deliveries whose keys are new; their ids (the others were queued before)."""
    return await insert_ignore_many(session, Delivery, rows, key="dedupe_key")


async def enqueue(session: AsyncSession, **delivery: Unpack[Addressed]) -> int | None:
    """Add a delivery unless one with the same key exists; the new row's id, or None."""
    ids = await enqueue_many(session, [row(**delivery)])
    return ids[0] if ids else None


async def cancel_for_subscriber(session: AsyncSession, subscriber_id: int, reason: str) -> int:
    """Skip everything still queued for a subscriber (banned, blocked, gone); rows skipped.

    A sender that already claimed such a row sees it is no longer its own before the next
    part, so nothing more reaches the chat once this commits.
    """
    return await rows_matched(
        session,
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_(OPEN))
        .values(
            status=Status.SKIPPED,
            last_error=reason[:ERROR_MAX],
            claimed_by=None,
            claimed_until=None,
        ),
    )


async def move_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: what is still queued goes to the new chat id."""
    await session.execute(
        update(Delivery)
        .where(Delivery.chat_id == old_chat_id, Delivery.status.in_(OPEN))
        .values(chat_id=new_chat_id)
    )


async def depth(session: AsyncSession) -> dict[Status, int]:
    """Rows per open or failed status, for /status."""
    counted = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.status.in_((*OPEN, Status.FAILED)))
        .group_by(Delivery.status)
    )
    found = {Status(status): count for status, count in counted.all()}
    return {s: found.get(s, 0) for s in (*OPEN, Status.FAILED)}


# --- sending --------------------------------------------------------------------------


async def claim(
    session: AsyncSession, worker: str, *, lease: timedelta, limit: int
) -> list[Delivery]:
    """Take due rows, and rows whose sender's lease ran out, in queue order: one statement.

    A chat's messages keep their order: no row of a chat is taken while one of its open
    rows must wait (a retry backing off, a 429 pause) or is held by a sender, so alert 2
    never overtakes alert 1. Claims on PostgreSQL take turns (an advisory lock), so each
    sees what the one before it claimed: a row another sender is claiming at that very
    moment would be skipped as locked, and the next row of its chat taken past it.
    """
    # The database's clock: senders on machines whose clocks disagree still agree on whose
    # lease has run out and which retry is due.
    now = await database_now(session)
    due = or_(
        and_(Delivery.status == Status.PENDING, Delivery.next_attempt_at <= now),
        and_(Delivery.status == Status.SENDING, Delivery.claimed_until < now),
    )
    # The chats that must wait: few, found once through the status index and looked up
    # per due row in a hash (PostgreSQL) or a temporary index (SQLite). Asking for each
    # due row whether an earlier row of its chat waits, through an index by (chat_id, id),
    # made a claim 2-3 times as slow with 100,000 queued.
    held = aliased(Delivery)
    waiting = select(held.chat_id).where(
        or_(
            and_(held.status == Status.PENDING, held.next_attempt_at > now),
            and_(held.status == Status.SENDING, held.claimed_until >= now),
        )
    )
    # `status IN OPEN` lets the open-rows index (ix_deliveries_open) serve the queue order,
    # so the sent rows behind us are never read however many there are.
    chosen = (
        select(Delivery.id)
        .where(Delivery.status.in_(OPEN), due, Delivery.chat_id.not_in(waiting))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        await locks.hold(session, locks.Lock.CLAIM)
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(chosen))
        .values(status=Status.SENDING, claimed_by=worker, claimed_until=now + lease)
        .returning(Delivery)
        .execution_options(synchronize_session=False)
    )
    return sorted(await session.scalars(stmt), key=lambda d: d.id)


async def reclaim_all(session: AsyncSession) -> int:
    """SQLite has one sender: rows a crashed predecessor had claimed are free at once."""
    return await rows_matched(
        session,
        update(Delivery)
        .where(Delivery.status == Status.SENDING)
        .values(status=Status.PENDING, claimed_by=None, claimed_until=None),
    )


def _ours(ids: Sequence[int], worker: str) -> Any:
    return and_(
        Delivery.id.in_(ids),
        Delivery.claimed_by == worker,
        Delivery.status == Status.SENDING,
    )


async def release(session: AsyncSession, ids: Sequence[int], worker: str) -> None:
    """Give back claimed rows that were not tried (they stay behind one that failed)."""
    if ids:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.claimed_by == worker)
            .values(status=Status.PENDING, claimed_by=None, claimed_until=None)
        )


async def still_ours(session: AsyncSession, ids: Sequence[int], worker: str) -> set[int]:
    """Those of `ids` still claimed by this worker: not stopped, banned or taken over."""
    return set(await session.scalars(select(Delivery.id).where(_ours(ids, worker))))


async def renew(
    session: AsyncSession, ids: Sequence[int], worker: str, lease: timedelta
) -> tuple[set[int], datetime]:
    """Extend our claim on `ids` by `lease` from now (the database's clock); those that
    were still ours, and the new end of the lease."""
    until = await database_now(session) + lease
    result = await session.scalars(
        update(Delivery)
        .where(_ours(ids, worker))
        .values(claimed_until=until)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return set(result), until


@dataclass(frozen=True)
class Mark:
    """Telegram accepted the row's first `parts_sent` parts at `at`; `done` when that is all."""

    delivery_id: int
    parts_sent: int
    done: bool
    at: datetime


async def mark_parts(session: AsyncSession, marks: Sequence[Mark]) -> None:
    """Record what Telegram accepted, for many rows at once; at most one mark per row.

    A row deleted meanwhile (its subscriber sent /stop) is simply not there to mark.
    """
    table = cast(Table, Delivery.__table__)
    key = table.c.id == bindparam("m_id")
    done = [{"m_id": m.delivery_id, "m_parts": m.parts_sent, "m_at": m.at} for m in marks if m.done]
    partial = [{"m_id": m.delivery_id, "m_parts": m.parts_sent} for m in marks if not m.done]
    # Core executemany: one round trip per shape, and no complaint about a vanished row.
    if done:
        finished = {
            "parts_sent": bindparam("m_parts"),
            "status": Status.SENT,
            "sent_at": bindparam("m_at"),
            "claimed_by": None,
            "claimed_until": None,
            "last_error": None,
        }
        await session.execute(update(table).where(key).values(finished), done)
    if partial:
        await session.execute(
            update(table).where(key).values(parts_sent=bindparam("m_parts")), partial
        )


async def retry_later(
    session: AsyncSession,
    delivery_id: int,
    parts_sent: int,
    delay: float,
    error: str,
    *,
    count: bool,
) -> None:
    """Back to the queue, due in `delay` seconds (by the database's clock, which claims
    go by); `count` says whether this was a failed attempt."""
    at = await database_now(session) + timedelta(seconds=delay)
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=Status.PENDING,
            next_attempt_at=at,
            parts_sent=parts_sent,
            attempts=Delivery.attempts + (1 if count else 0),
            last_error=error[:ERROR_MAX],
            claimed_by=None,
            claimed_until=None,
        )
    )


async def give_up(session: AsyncSession, delivery_id: int, parts_sent: int, error: str) -> None:
    """Telegram refused the row for good (a bad request): failed, with the error kept."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=Status.FAILED,
            parts_sent=parts_sent,
            last_error=error[:ERROR_MAX],
            attempts=Delivery.attempts + 1,
            claimed_by=None,
            claimed_until=None,
        )
    )


async def chat_gone(
    session: AsyncSession, delivery_id: int, subscriber_id: int, parts_sent: int, error: str
) -> None:
    """The user blocked the bot or no longer exists: mark them and skip all they had queued."""
    await session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(blocked_at=utcnow(), block_reason=error[:255])
    )
    await cancel_for_subscriber(session, subscriber_id, error)
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(parts_sent=parts_sent, attempts=Delivery.attempts + 1)
    )
