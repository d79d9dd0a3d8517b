"""Alerts into groups and forum topics: real aiogram polling the simulated Bot API, over HTTP.

Every test runs on SQLite and on PostgreSQL (the `sessions` fixture). Admins and members
write in the simulated group; what the bot answers, what it writes to the database and
what reaches the group are what the tests look at.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiogram import Bot
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.delivery import Sender
from bot.digest.service import DigestService
from bot.dispatcher import build_dispatcher
from bot.i18n import Translator
from bot.keyboards import SettingsCb, StopCb
from bot.routing import EventRouter
from chanwatch.app import bot_config
from chanwatch.settings import Settings
from simulator.botapi import BotAPILimits, BotAPISimulator, SentMessage
from storage import events, payloads, subscribers
from storage.db import SessionMaker, transaction
from storage.models import Base, Delivery, Subscriber, Subscription
from tests.harness import simulated_bot
from tests.support import watched_channel

OWNER, ADMIN, MEMBER = 501, 502, 503
GROUP = -7_001
FORUM = -1_000_000_007_002
CHANNEL = -1_000_000_007_003
ROOMY = BotAPILimits(per_chat_per_second=1000, per_chat_burst=1000, overall_burst=1000)
T = Translator.load()


class GroupBot:
    """The bot's dispatcher polling the simulator; waits until an update is handled."""

    def __init__(self, sim: BotAPISimulator, bot: Bot, sessions: SessionMaker) -> None:
        self.sim, self.bot, self.sessions = sim, bot, sessions
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        self.dp = build_dispatcher(
            sessions=sessions,
            translator=T,
            config=bot_config(settings),
            wake_sender=lambda: None,
            digests=DigestService(sessions, T, settings),
            throttle_rate=1000.0,
            throttle_burst=1000,
        )
        self.handled: set[int] = set()
        self._changed = asyncio.Condition()
        feed = self.dp.feed_update

        async def track(bot: Bot, update: Update, **kwargs: Any) -> Any:
            try:
                return await feed(bot, update, **kwargs)
            finally:
                async with self._changed:
                    self.handled.add(update.update_id)
                    self._changed.notify_all()

        self.dp.feed_update = track  # type: ignore[method-assign]

    async def handled_(self, update: dict[str, Any]) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: update["update_id"] in self.handled)

        await asyncio.wait_for(wait(), 10)

    async def say(
        self,
        user: int,
        text: str,
        *,
        chat: int = GROUP,
        topic: int | None = None,
        sender_chat: int | None = None,
    ) -> list[SentMessage]:
        """`user` writes in the group (as `sender_chat`, if given); the bot's new messages
        there once it is handled."""
        before = len(self.sim.received(chat))
        sent = self.sim.user_sends(
            user, text, chat_id=chat, message_thread_id=topic, sender_chat=sender_chat
        )
        await self.handled_(sent)
        return self.sim.received(chat)[before:]

    async def press(self, user: int, message: SentMessage, data: str) -> dict[str, Any]:
        """`user` presses a button under the bot's message in the group; the answer."""
        query_id = self.sim.user_presses(user, message.message_id, data, chat_id=message.chat_id)
        [update] = [
            u
            for u in self.sim.pending_updates()
            if (u.get("callback_query") or {}).get("id") == query_id
        ]
        await self.handled_(update)
        [answer] = [a for a in self.sim.callback_answers() if a["callback_query_id"] == query_id]
        return answer

    async def bot_becomes(self, chat: int, status: str, **rights: bool) -> None:
        await self.handled_(self.sim.set_bot_status(chat, status, by=OWNER, **rights))


@pytest_asyncio.fixture
async def env(sessions: SessionMaker) -> AsyncIterator[GroupBot]:
    async with simulated_bot(ROOMY) as (sim, bot):
        group_bot = GroupBot(sim, bot, sessions)
        polling = asyncio.create_task(
            group_bot.dp.start_polling(bot, handle_signals=False, close_bot_session=False)
        )
        try:
            yield group_bot
        finally:
            with contextlib.suppress(RuntimeError):  # a test may have stopped it already
                await group_bot.dp.stop_polling()
            await polling


async def post(sessions: SessionMaker, channel_id: int, message_id: int, text: str) -> None:
    async def work(s: AsyncSession) -> None:
        await events.record(
            s,
            channel_id=channel_id,
            dedupe_key=f"post.new:{channel_id}:{message_id}",
            payload=payloads.PostNew(message_id=message_id, text=text),
        )

    await transaction(sessions, work)


async def deliver(env: GroupBot) -> int:
    """Route what is new and send it; the deliveries written."""
    written = await EventRouter(env.sessions, T).route_pending()
    await Sender(env.bot, env.sessions, per_chat=1000, per_group=1000).drain_once()
    return written


async def row_counts(sessions: SessionMaker) -> dict[str, int]:
    async with sessions() as s:
        return {
            table.name: int(await s.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


async def group_row(sessions: SessionMaker, chat_id: int = GROUP) -> Subscriber | None:
    async with sessions() as s:
        return await s.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))


async def lists_of(
    sessions: SessionMaker, chat_id: int, column: InstrumentedAttribute[list[str]]
) -> list[list[str]]:
    """A list column (keywords, kinds) of each of the chat's subscriptions."""
    async with sessions() as s:
        rows = await s.scalars(
            select(column)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.chat_id == chat_id)
        )
        return [list(k) for k in rows]


async def keywords_of(sessions: SessionMaker, chat_id: int) -> list[list[str]]:
    return await lists_of(sessions, chat_id, Subscription.keywords)


async def kinds_of(sessions: SessionMaker, chat_id: int) -> list[list[str]]:
    return await lists_of(sessions, chat_id, Subscription.event_kinds)


async def channel_chat(env: GroupBot) -> None:
    """The channel @watchers (OWNER its creator, ADMIN an admin, MEMBER a member), with
    the bot as an admin allowed to post."""
    env.sim.create_chat(
        CHANNEL, "channel", title="Наблюдатели", username="watchers", creator=OWNER, admins=[ADMIN]
    )
    env.sim.set_member(CHANNEL, MEMBER, "member")
    await env.bot_becomes(CHANNEL, "administrator", can_post_messages=True)


async def linked_channel(env: GroupBot) -> None:
    """`channel_chat`, linked by OWNER with /target."""
    await channel_chat(env)
    [linked] = await env.say(OWNER, "/target @watchers", chat=OWNER)
    assert linked.text == T.get("en", "target-linked", channel="@watchers")


def texts(messages: list[SentMessage]) -> list[str]:
    return [m.text or m.caption or "" for m in messages]


async def test_admins_manage_the_group_members_are_refused_and_removal_stops_sending(
    env: GroupBot,
) -> None:
    sessions, sim = env.sessions, env.sim
    domoi = await watched_channel(sessions)
    await watched_channel(sessions, tg_id=1002, username="otherchan")
    sim.create_chat(
        GROUP, "group", title="Newsroom", creator=OWNER, admins=[ADMIN], members=[MEMBER]
    )
    await env.bot_becomes(GROUP, "member")
    row = await group_row(sessions)
    assert row is not None and row.kind == "group" and row.user_id is None
    assert texts(sim.received(GROUP)) == [T.get("en", "group-added")]

    [start] = await env.say(MEMBER, "/start")
    assert start.text == T.get("en", "group-start")
    [added] = await env.say(OWNER, "/subscribe@chanwatch_bot @putdomoi")
    assert added.text == T.get("en", "sub-added-cmd", channel="Путь домой")
    [filtered] = await env.say(ADMIN, "/filters @putdomoi мобилизация")
    assert "мобилизация" in (filtered.text or "")

    [summary] = await env.say(ADMIN, "/settings")
    digest_switch = SettingsCb(action="d").pack()
    before = await row_counts(sessions)
    refused = await env.press(MEMBER, summary, digest_switch)  # buttons are gated as well
    assert refused["text"] == T.get("en", "group-admins-only") and refused["show_alert"]
    assert (await group_row(sessions)).digest_enabled  # type: ignore[union-attr]
    for command in ("/subscribe @otherchan", "/filters @putdomoi -", "/lang ru", "/mute 1d"):
        [refusal] = await env.say(MEMBER, command)
        assert refusal.text == T.get("en", "group-admins-only")
        assert refusal.reply_to_message_id is not None
    assert await env.say(MEMBER, "hello everyone") == []  # talk in the group is not for the bot
    assert await row_counts(sessions) == before
    assert await keywords_of(sessions, GROUP) == [["мобилизация"]]
    refusals = sim.stats.requests["getChatMember"]

    # An admin demoted a moment ago is refused on the very next command: nothing is cached.
    sim.set_member(GROUP, ADMIN, "member")
    [refusal] = await env.say(ADMIN, "/filters @putdomoi -")
    assert refusal.text == T.get("en", "group-admins-only")
    assert sim.stats.requests["getChatMember"] == refusals + 1

    # Alerts arrive in the group, through its filter.
    shown = len(sim.received(GROUP))
    await post(sessions, domoi, 10, "Мобилизация продолжается")
    await post(sessions, domoi, 11, "Погода")
    assert await deliver(env) == 1
    [alert] = sim.received(GROUP)[shown:]
    assert "Мобилизация продолжается" in (alert.text or "")

    # One alert is queued, then the bot is removed: it is skipped, nothing is retried.
    await post(sessions, domoi, 12, "мобилизация снова")
    assert await EventRouter(sessions, T).route_pending() == 1
    await env.bot_becomes(GROUP, "left")
    calls = sim.stats.requests["sendMessage"]
    await post(sessions, domoi, 13, "мобилизация в третий раз")
    assert await deliver(env) == 0
    await Sender(env.bot, sessions, per_group=1000).drain_once()
    assert sim.stats.requests["sendMessage"] == calls
    async with sessions() as s:
        statuses = list(await s.scalars(select(Delivery.status).order_by(Delivery.id)))
    assert statuses == ["sent", "skipped"]
    assert (await group_row(sessions)).blocked_at is not None  # type: ignore[union-attr]

    # Added again, it resumes with the group's subscriptions as they were.
    await env.bot_becomes(GROUP, "member")
    await post(sessions, domoi, 14, "мобилизация: новости")
    assert await deliver(env) == 1
    assert "мобилизация: новости" in texts(sim.received(GROUP))[-1]


async def test_anonymous_admins_manage_the_group_a_message_sent_as_a_channel_does_not(
    env: GroupBot,
) -> None:
    sessions, sim = env.sessions, env.sim
    await watched_channel(sessions)
    sim.create_chat(
        FORUM, "supergroup", title="Newsroom", creator=OWNER, admins=[ADMIN], members=[MEMBER]
    )
    sim.create_chat(CHANNEL, "channel", title="Наблюдатели", username="watchers", creator=MEMBER)
    await env.bot_becomes(FORUM, "member")

    # An admin posting anonymously writes as the group itself: Telegram allows only admins.
    [added] = await env.say(ADMIN, "/subscribe @putdomoi", chat=FORUM, sender_chat=FORUM)
    assert added.text == T.get("en", "sub-added-cmd", channel="Путь домой")
    [filtered] = await env.say(
        ADMIN, "/filters @putdomoi мобилизация", chat=FORUM, sender_chat=FORUM
    )
    assert "мобилизация" in (filtered.text or "")
    assert await keywords_of(sessions, FORUM) == [["мобилизация"]]

    # A member posting as their own channel is no admin of the group: refused, nothing written.
    before = await row_counts(sessions)
    [refusal] = await env.say(MEMBER, "/filters @putdomoi -", chat=FORUM, sender_chat=CHANNEL)
    assert refusal.text == T.get("en", "group-admins-only")
    assert await row_counts(sessions) == before
    assert await keywords_of(sessions, FORUM) == [["мобилизация"]]


async def test_forum_topic_gets_its_channel_alerts(env: GroupBot) -> None:
    sessions, sim = env.sessions, env.sim
    domoi = await watched_channel(sessions)
    other = await watched_channel(sessions, tg_id=1002, username="otherchan")
    sim.create_chat(FORUM, "supergroup", title="Desk", is_forum=True, creator=OWNER)
    await env.bot_becomes(FORUM, "administrator")
    topic = sim.create_topic(FORUM, "Путь домой")
    await env.say(OWNER, "/subscribe @putdomoi", chat=FORUM)
    await env.say(OWNER, "/subscribe @otherchan", chat=FORUM)
    [reply] = await env.say(OWNER, "/topic @putdomoi", chat=FORUM, topic=topic)
    assert reply.text == T.get("en", "topic-set", channel="Путь домой")
    assert reply.message_thread_id == topic  # answered in the topic it was asked in

    await post(sessions, domoi, 20, "в тему")
    await post(sessions, other, 21, "в General")
    assert await deliver(env) == 2
    assert ["в тему" in t for t in texts(sim.received(FORUM, topic=topic))][-1:] == [True]
    [general] = [m for m in sim.received(FORUM)[-2:] if m.message_thread_id is None]
    assert "в General" in (general.text or "")

    # A member of the forum may not move the alerts.
    sim.set_member(FORUM, MEMBER, "member")
    [refusal] = await env.say(MEMBER, "/topic @putdomoi", chat=FORUM, topic=topic)
    assert refusal.text == T.get("en", "group-admins-only")

    # The group's digest comes in the language its admins set for the group.
    [lang_set] = await env.say(OWNER, "/lang ru", chat=FORUM)
    assert lang_set.text == T.get("ru", "lang-set")
    [queued] = await env.say(OWNER, "/digest", chat=FORUM)
    assert queued.text == T.get("ru", "digest-queued")
    shown = len(sim.received(FORUM))
    await Sender(env.bot, sessions, per_group=1000).drain_once()
    digest = texts(sim.received(FORUM)[shown:])
    assert any("Ваша сводка за последние 7 дней" in t for t in digest)


async def test_group_upgraded_to_supergroup_keeps_its_subscriptions(env: GroupBot) -> None:
    sessions, sim = env.sessions, env.sim
    domoi = await watched_channel(sessions)
    sim.create_chat(GROUP, "group", creator=OWNER)
    await env.bot_becomes(GROUP, "member")
    await env.say(OWNER, "/subscribe @putdomoi")
    await env.say(OWNER, "/filters @putdomoi суд")
    # An alert queued for the old id, then Telegram upgrades the group.
    await post(sessions, domoi, 30, "суд отложен")
    assert await EventRouter(sessions, T).route_pending() == 1
    for update in sim.migrate(GROUP, FORUM, by=OWNER):
        await env.handled_(update)
    assert await group_row(sessions, GROUP) is None
    moved = await group_row(sessions, FORUM)
    assert moved is not None and moved.kind == "supergroup"
    assert await keywords_of(sessions, FORUM) == [["суд"]]
    await Sender(env.bot, sessions, per_group=1000).drain_once()
    assert ["суд отложен" in t for t in texts(sim.received(FORUM))] == [True]


async def test_sender_follows_migrate_to_chat_id_when_the_notice_was_missed(
    env: GroupBot,
) -> None:
    """The 400 with parameters.migrate_to_chat_id moves the chat and re-sends there."""
    sessions, sim = env.sessions, env.sim
    domoi = await watched_channel(sessions)
    sim.create_chat(GROUP, "group", creator=OWNER)
    await env.bot_becomes(GROUP, "member")
    await env.say(OWNER, "/subscribe @putdomoi")
    await env.dp.stop_polling()  # the bot is down while Telegram upgrades the group
    sim.migrate(GROUP, FORUM, by=OWNER)
    await post(sessions, domoi, 40, "первое")
    await post(sessions, domoi, 41, "второе")
    assert await EventRouter(sessions, T).route_pending() == 2
    sender = Sender(env.bot, sessions, per_group=1000)
    for _ in range(3):
        await sender.drain_once()
    assert texts(sim.received(FORUM)) and all(
        "первое" in t or "второе" in t for t in texts(sim.received(FORUM))
    )
    assert len(sim.received(FORUM)) == 2
    assert not any("первое" in t or "второе" in t for t in texts(sim.received(GROUP)))
    assert (await group_row(sessions, FORUM)) is not None
    async with sessions() as s:
        assert set(await s.scalars(select(Delivery.status))) == {"sent"}
        assert set(await s.scalars(select(Delivery.chat_id))) == {FORUM}


async def test_channel_target_gets_alerts_and_digest_under_its_own_rules(env: GroupBot) -> None:
    sessions, sim = env.sessions, env.sim
    domoi = await watched_channel(sessions)
    await channel_chat(env)
    assert await group_row(sessions, CHANNEL) is None  # only /target makes it a target

    # A subscriber who is not the channel's admin is refused, and nothing is written.
    before = await row_counts(sessions)
    [refusal] = await env.say(MEMBER, "/target @watchers", chat=MEMBER)
    assert refusal.text == T.get("en", "target-not-admin", channel="@watchers")
    assert await row_counts(sessions) == before

    [linked] = await env.say(OWNER, "/target @watchers", chat=OWNER)
    assert linked.text == T.get("en", "target-linked", channel="@watchers")
    target = await group_row(sessions, CHANNEL)
    assert target is not None and target.kind == "channel" and target.linked_by == OWNER

    # Its rules are its own: named first, the usual commands set them.
    [added] = await env.say(OWNER, "/subscribe @watchers @putdomoi", chat=OWNER)
    assert added.text == "📣 Наблюдатели\n" + T.get("en", "sub-added-cmd", channel="Путь домой")
    assert added.reply_markup is None
    await env.say(OWNER, "/lang @watchers ru", chat=OWNER)
    assert await keywords_of(sessions, CHANNEL) == [[]]
    assert await keywords_of(sessions, OWNER) == []  # the owner's own chat follows nothing
    [other] = await env.say(MEMBER, "/subscribe @watchers @putdomoi", chat=MEMBER)
    assert other.text == T.get("en", "target-not-admin", channel="@watchers")
    async with sessions() as s:  # a moderator's broadcast never goes to a public channel
        assert CHANNEL not in {r.chat_id for r in await subscribers.reachable(s)}
    [listing] = await env.say(OWNER, "/target", chat=OWNER)
    assert "@watchers" in (listing.text or "") and "Наблюдатели" in (listing.text or "")

    await post(sessions, domoi, 50, "Пост для канала")
    assert await deliver(env) == 1
    [alert] = sim.received(CHANNEL)
    assert "Пост для канала" in (alert.text or "")
    assert T.get("ru", "ev-post-new", channel="Путь домой") in (alert.text or "")

    [queued] = await env.say(OWNER, "/digest @watchers", chat=OWNER)
    assert queued.text == "📣 Наблюдатели\n" + T.get("en", "digest-queued")
    await Sender(env.bot, sessions, per_group=1000).drain_once()
    digest = sim.received(CHANNEL)[1:]
    assert digest and any("Ваша сводка за последние 7 дней" in t for t in texts(digest))
    assert sim.received(OWNER, topic=None)[-1].text == queued.text  # nothing digest-like here

    # Demoted (no right to post): the channel is given up and nothing more is routed there.
    await env.bot_becomes(CHANNEL, "administrator", can_post_messages=False)
    await post(sessions, domoi, 51, "после понижения")
    assert await deliver(env) == 0
    [removed] = await env.say(OWNER, "/target remove @watchers", chat=OWNER)
    assert removed.text == T.get("en", "target-removed", channel="@watchers")
    assert await group_row(sessions, CHANNEL) is None


async def test_a_linked_channel_is_managed_with_every_settings_command(env: GroupBot) -> None:
    sessions, sim = env.sessions, env.sim
    await watched_channel(sessions)
    await linked_channel(env)
    about = "📣 Наблюдатели\n"
    await env.say(OWNER, "/subscribe @watchers @putdomoi", chat=OWNER)

    # /kinds shows the channel's kinds and, having no buttons, how to name them.
    [shown] = await env.say(OWNER, "/kinds @watchers @putdomoi", chat=OWNER)
    every = "New posts, Edits, Deletions, Channel changes and labels"
    kinds_now = T.get("en", "kinds-show", channel="Путь домой", kinds=every)
    assert shown.text == about + kinds_now + "\n" + T.get("en", "kinds-by-words")
    assert shown.reply_markup is None
    [saved] = await env.say(OWNER, "/kinds @watchers @putdomoi posts, deletions", chat=OWNER)
    names = "New posts, Deletions"
    assert saved.text == about + T.get("en", "kinds-saved", channel="Путь домой", kinds=names)
    assert await kinds_of(sessions, CHANNEL) == [["posts", "deletions"]]
    assert await kinds_of(sessions, OWNER) == []  # the owner's own chat follows nothing
    [unknown] = await env.say(OWNER, "/kinds @watchers @putdomoi posts reposts", chat=OWNER)
    assert unknown.text == about + T.get("en", "kinds-unknown", word="reposts")
    assert await kinds_of(sessions, CHANNEL) == [["posts", "deletions"]]

    # /channels lists the watched channels, ✅ where the linked channel follows.
    [listing] = await env.say(ADMIN, "/channels @watchers", chat=ADMIN)
    assert (listing.text or "").startswith(about + T.get("en", "channels-header-named", count=1))
    assert "✅" in (listing.text or "") and listing.reply_markup is None

    # The rest of the commands answer about the channel too.
    for command in (
        "/filters @watchers @putdomoi мобилизация",
        "/mute @watchers 1h",
        "/unmute @watchers",
        "/digest @watchers off",
        "/settings @watchers",
        "/lang @watchers en",
    ):
        [answer] = await env.say(ADMIN, command, chat=ADMIN)
        assert (answer.text or "").startswith(about), command
        assert answer.reply_markup is None, command
    assert await keywords_of(sessions, CHANNEL) == [["мобилизация"]]

    # Checked on every call: a member, and an admin demoted a moment ago, are refused.
    sim.set_member(CHANNEL, ADMIN, "member")
    before = await row_counts(sessions)
    for user in (MEMBER, ADMIN):
        for command in ("/kinds @watchers @putdomoi edits", "/channels @watchers"):
            [refusal] = await env.say(user, command, chat=user)
            assert refusal.text == T.get("en", "target-not-admin", channel="@watchers")
    assert await row_counts(sessions) == before
    assert await kinds_of(sessions, CHANNEL) == [["posts", "deletions"]]


async def test_stop_in_private_keeps_the_linked_channels_alerts_and_says_how_to_unlink(
    env: GroupBot,
) -> None:
    sessions, sim = env.sessions, env.sim
    domoi = await watched_channel(sessions)
    await env.say(OWNER, "/start", chat=OWNER)
    await linked_channel(env)
    await env.say(OWNER, "/subscribe @watchers @putdomoi", chat=OWNER)
    await env.say(OWNER, "/subscribe @putdomoi", chat=OWNER)
    linked = T.get("en", "stop-linked", count=1, channels="@watchers", first="@watchers")

    # Naming the channel: it is stopped by unlinking it; nothing is asked or deleted.
    before = await row_counts(sessions)
    [hint] = await env.say(OWNER, "/stop @watchers", chat=OWNER)
    assert hint.text == T.get("en", "stop-target", channel="@watchers")
    assert hint.reply_markup is None and await row_counts(sessions) == before

    [confirm] = await env.say(OWNER, "/stop", chat=OWNER)
    assert confirm.text == T.get("en", "stop-confirm") + "\n\n" + linked
    await env.press(OWNER, confirm, StopCb(action="yes").pack())
    [done] = [m for m in sim.received(OWNER) if m.message_id == confirm.message_id]
    assert done.text == T.get("en", "stop-done") + "\n\n" + linked
    assert await group_row(sessions, OWNER) is None

    # The channel keeps its rules and its alerts; the owner's chat gets nothing more.
    assert await keywords_of(sessions, CHANNEL) == [[]]
    shown = len(sim.received(OWNER))
    await post(sessions, domoi, 60, "Пост после /stop")
    assert await deliver(env) == 1
    assert "Пост после /stop" in texts(sim.received(CHANNEL))[-1]
    assert len(sim.received(OWNER)) == shown
