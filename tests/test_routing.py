"""Who gets which alert: event kinds, keyword filters in any script, mutes, blocks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import routing
from bot.i18n import Translator
from bot.keywords import clean_keyword, matches
from bot.routing import EventRouter
from storage import channels, events, kinds, outbox, payloads
from storage.db import SessionMaker, transaction
from storage.models import Delivery, Subscriber, Subscription
from storage.types import utcnow


@pytest.mark.parametrize(
    ("keywords", "text", "hit"),
    [
        ([], "anything", True),
        (["мобилизация"], "Снова МОБИЛИЗАЦИЯ в регионе", True),
        (["мобилизац*"], "о мобилизации мужчин", True),
        (["мобилизация"], "о мобилизации мужчин", False),  # a whole word unless a prefix*
        (["путь домой"], "Движение «Путь   Домой» заявило", True),
        (["ёлка"], "Елка на площади", True),
        (["war"], "Award ceremony", False),
        (["war"], "The war goes on", True),
        (["a.b"], "axb", False),  # user text is never a pattern
        (["(a+)+$"], "a" * 5000 + "!", False),
    ],
)
def test_keyword_matching(keywords: list[str], text: str, hit: bool) -> None:
    assert matches([clean_keyword(k) or k for k in keywords], text) is hit


def test_keywords_are_cleaned_and_bounded() -> None:
    assert clean_keyword('  "Путь  Домой" ') == "путь домой"
    assert clean_keyword("") is None and clean_keyword("*") is None
    assert clean_keyword("x" * 65) is None


async def test_routing_respects_kinds_filters_mutes_and_blocks(sessions: SessionMaker) -> None:
    async def seed(s: AsyncSession) -> int:
        ch, _ = await channels.add_or_rewatch(
            s,
            tg_id=1,
            access_hash=1,
            username="putdomoi",
            title="Путь домой",
            handle="",
            added_by=None,
        )
        people = {
            "all": ([*kinds.GROUPS], [], {}),
            "deletions_only": (["deletions", "channel"], [], {}),
            "keyword": ([*kinds.GROUPS], ["мобилизац*"], {}),
            "muted": ([*kinds.GROUPS], [], {"muted_until": utcnow() + timedelta(hours=1)}),
            "blocked": ([*kinds.GROUPS], [], {"blocked_at": utcnow()}),
        }
        for i, (name, (groups, words, extra)) in enumerate(people.items()):
            sub = Subscriber(chat_id=100 + i, username=name, language="ru", **extra)
            s.add(sub)
            await s.flush()
            s.add(
                Subscription(
                    subscriber_id=sub.id, channel_id=ch.id, event_kinds=groups, keywords=words
                )
            )
        for key, payload in (
            ("a", payloads.PostNew(message_id=1, text="Митинг у Кремля")),
            ("b", payloads.PostNew(message_id=2, text="Новая волна мобилизации")),
            ("c", payloads.PostDeleted(message_id=1, text="Митинг у Кремля")),
            ("d", payloads.LabelAdded(label="fake")),
        ):
            await events.record(s, channel_id=ch.id, dedupe_key=key, payload=payload)
        return ch.id

    await transaction(sessions, seed)
    await EventRouter(sessions, Translator.load()).route_pending()
    async with sessions() as s:
        rows = (
            await s.execute(
                select(Subscriber.username, Delivery.event_id).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            )
        ).all()
    got: dict[str, int] = {}
    for name, _ in rows:
        got[name] = got.get(name, 0) + 1
    # all: 4; deletions_only: the deletion and the label; keyword: the matching post,
    # and the label (channel events are never filtered away); muted and blocked: none.
    assert got == {"all": 4, "deletions_only": 2, "keyword": 2}


async def test_a_fan_out_past_a_page_reaches_each_follower_once_a_page_at_a_time(
    sessions: SessionMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel's followers are read a page at a time (memory stays bounded by the page),
    and every one who wants the alert gets it once, across the pages' edges."""
    monkeypatch.setattr(routing, "ENQUEUE_CHUNK", 3)
    muted = {3, 6, 7}  # the last of the first page, and two on the last pages

    async def seed(s: AsyncSession) -> None:
        ch, _ = await channels.add_or_rewatch(
            s, tg_id=1, access_hash=1, username="big", title="Big", handle="", added_by=None
        )
        other, _ = await channels.add_or_rewatch(
            s, tg_id=2, access_hash=2, username="other", title="Other", handle="", added_by=None
        )
        for i in range(1, 9):
            sub = Subscriber(chat_id=100 + i, username=f"u{i}", language="ru" if i % 2 else "en")
            s.add(sub)
            await s.flush()
            s.add(Subscription(subscriber_id=sub.id, channel_id=ch.id, event_kinds=["posts"]))
            s.add(Subscription(subscriber_id=sub.id, channel_id=other.id, event_kinds=["posts"]))
            if i in muted:
                sub.muted_until = utcnow() + timedelta(hours=1)
        await events.record(
            s, channel_id=ch.id, dedupe_key="p", payload=payloads.PostNew(message_id=1, text="x")
        )

    await transaction(sessions, seed)
    held: list[int] = []
    enqueue_many = outbox.enqueue_many

    async def counting(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
        held.append(sum(isinstance(o, Subscriber) for o in session.identity_map.values()))
        return await enqueue_many(session, rows)

    monkeypatch.setattr(outbox, "enqueue_many", counting)
    written = await EventRouter(sessions, Translator.load()).route_pending()
    async with sessions() as s:
        got = sorted(await s.scalars(select(Delivery.chat_id)))
    assert got == [100 + i for i in range(1, 9) if i not in muted] and written == len(got)
    assert held and max(held) <= 3, held
