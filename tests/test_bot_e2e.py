"""The bot end to end: simulated users talk over HTTP to real aiogram polling.

Every test runs on SQLite and on PostgreSQL (the `sessions` fixture). Users write
through the simulated Bot API, the dispatcher built by `bot.dispatcher` answers, and
the tests look at what arrived in the chats and what was written to the database.
The collector's part (answering watch requests) is played by the tests themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import Sender
from bot.dispatcher import set_commands
from bot.handlers import evidence, watchlist
from bot.keyboards import (
    MODERATOR_COMMANDS,
    SUBSCRIBER_COMMANDS,
    BroadcastCb,
    ChannelsCb,
    KindsCb,
    StopCb,
    UnwatchCb,
)
from bot.routing import EventRouter
from chanwatch.settings import Settings
from chanwatch.telegram import CLIENT_OPTIONS
from collectors.collector import Collector, CollectorConfig
from simulator.botapi import BotAPILimits, SentMessage
from simulator.mtproto import World, make_simulated_client
from storage import channels as channel_store
from storage.db import SessionMaker, transaction
from storage.models import (
    AuditEntry,
    Channel,
    Delivery,
    Event,
    Subscriber,
    WatchRequest,
)
from storage.types import utcnow
from tests import botkit
from tests.botkit import (
    MOD,
    OTHER,
    TRANSLATOR,
    USER,
    BotEnv,
    FakeDigests,
    add_channel,
    audit_actions,
    buttons,
    post_event,
    route_and_deliver,
    row_counts,
    subscriber_of,
    subscription_of,
)

# The bot end-to-end fixtures: a dispatcher polling the simulated Bot API.
make_env, env, quick_watch = botkit.make_env, botkit.env, botkit.quick_watch

# --------------------------------------------------------------------------- subscribers


async def test_subscriber_journey(env: BotEnv) -> None:
    sessions = env.sessions
    domoi = await add_channel(sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001, is_fake=True)
    await add_channel(sessions, "otherchan", "Other", tg_id=1_500_000_002)

    [welcome] = await env.say(USER, "/start", replies=1)
    assert welcome.text.startswith(env.tr("en", "start-welcome", name="User").split("\n")[0])

    [listing] = await env.say(USER, "/channels", replies=1)
    assert "Путь домой" in listing.text and "FAKE" in listing.text and "Other" in listing.text
    toggle = ChannelsCb(action="t", channel_id=domoi, page=0).pack()
    assert toggle in buttons(listing).values()
    listing, answer = await env.press(USER, listing, toggle)
    assert answer["text"] == env.tr("en", "sub-added")
    assert "✅ Путь домой" in buttons(listing)
    sub = await subscription_of(sessions, USER, domoi)
    assert sub is not None and sub.event_kinds == ["posts", "edits", "deletions", "channel"]

    # Choose kinds: no deletions.
    kinds_msg, _ = await env.press(USER, listing, ChannelsCb(action="k", channel_id=domoi).pack())
    assert kinds_msg.text == env.tr("en", "kinds-header", channel="Путь домой")
    kinds_msg, _ = await env.press(
        USER, kinds_msg, KindsCb(channel_id=domoi, group="deletions").pack()
    )
    kinds_msg, _ = await env.press(USER, kinds_msg, KindsCb(channel_id=domoi, group="done").pack())
    assert "Deletions" not in kinds_msg.text and "New posts" in kinds_msg.text
    sub = await subscription_of(sessions, USER, domoi)
    assert sub is not None and sub.event_kinds == ["posts", "edits", "channel"]

    # A keyword filter with a phrase.
    [reply] = await env.say(USER, '/filters @putdomoi мобилизация, "путь домой"', replies=1)
    assert "мобилизация" in reply.text and "путь домой" in reply.text
    sub = await subscription_of(sessions, USER, domoi)
    assert sub is not None and sub.keywords == ["мобилизация", "путь домой"]

    # Alerts: a matching post arrives, a non-matching one and a deletion do not.
    await post_event(sessions, domoi, 10, "Новая волна: МОБИЛИЗАЦИЯ объявлена")
    await post_event(sessions, domoi, 11, "Погода на выходные")
    await post_event(sessions, domoi, 10, "Новая волна", kind="post.deleted")
    before = len(env.received(USER))
    await route_and_deliver(env)
    alerts = env.received(USER)[before:]
    assert len(alerts) == 1, [a.text for a in alerts]
    assert "МОБИЛИЗАЦИЯ" in alerts[0].text and "Погода" not in alerts[0].text
    assert alerts[0].text.startswith("🆕 New post in Путь домой")

    # Switch language: replies and alerts are Russian now.
    [switched] = await env.say(USER, "/lang ru", replies=1)
    assert switched.text == env.tr("ru", "lang-set")
    [settings_msg] = await env.say(USER, "/settings", replies=1)
    assert settings_msg.text.startswith(env.tr("ru", "settings-header"))
    assert "мобилизация" in settings_msg.text
    [help_msg] = await env.say(USER, "/help", replies=1)
    assert help_msg.text == env.tr("ru", "help-subscriber")
    await post_event(sessions, domoi, 12, "ещё про мобилизацию и путь домой")
    before = len(env.received(USER))
    await route_and_deliver(env)
    [alert] = env.received(USER)[before:]
    assert alert.text.startswith("🆕 Новый пост в канале Путь домой")

    # Leave: everything about the user is deleted.
    [confirm] = await env.say(USER, "/stop", replies=1)
    assert confirm.text == env.tr("ru", "stop-confirm")
    done, _ = await env.press(USER, confirm, StopCb(action="yes").pack())
    assert done.text == env.tr("ru", "stop-done")
    assert await subscriber_of(sessions, USER) is None
    counts = await row_counts(sessions)
    assert counts["subscriptions"] == 0 and counts["deliveries"] == 0 and counts["subscribers"] == 0


async def test_subscribe_and_unsubscribe_by_command(env: BotEnv) -> None:
    domoi = await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    [r] = await env.say(USER, "/subscribe @PutDomoi", replies=1)
    assert r.text.startswith(env.tr("en", "sub-added-cmd", channel="Путь домой").split(".")[0])
    [r] = await env.say(USER, "/subscribe https://t.me/putdomoi", replies=1)
    assert r.text == env.tr("en", "sub-already", channel="Путь домой")
    assert await subscription_of(env.sessions, USER, domoi) is not None
    [r] = await env.say(USER, "/unsubscribe @putdomoi", replies=1)
    assert r.text == env.tr("en", "unsub-done", channel="Путь домой")
    assert await subscription_of(env.sessions, USER, domoi) is None
    [r] = await env.say(USER, "/unsubscribe @putdomoi", replies=1)
    assert r.text == env.tr("en", "not-subscribed", channel="Путь домой")


async def _queue_alerts_and_start_sending(env: BotEnv, count: int) -> Sender:
    """`count` alerts queued for USER, a sender draining them at 10 a second."""
    domoi = await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    await env.say(USER, "/subscribe @putdomoi", replies=1)
    for message_id in range(1, count + 1):
        await post_event(env.sessions, domoi, message_id, f"пост {message_id}")
    await EventRouter(env.sessions, env.t).route_pending()
    sender = Sender(env.bot, env.sessions, per_chat=10, idle_poll=0.05)
    await sender.start()
    for _ in range(200):
        if len(_alerts(env)) >= 3:
            break
        await asyncio.sleep(0.02)
    return sender


def _alerts(env: BotEnv) -> list[SentMessage]:
    return [m for m in env.received(USER) if "пост " in (m.text or "")]


async def test_nothing_reaches_a_chat_after_stop_is_confirmed(env: BotEnv) -> None:
    sender = await _queue_alerts_and_start_sending(env, 20)
    try:
        [confirm] = await env.say(USER, "/stop", replies=1)
        done, _ = await env.press(USER, confirm, StopCb(action="yes").pack())
        assert done.text == env.tr("en", "stop-done")
        arrived = len(_alerts(env))
        await asyncio.sleep(1.0)  # ten more sends' worth at the sender's pace
        assert len(_alerts(env)) == arrived < 20
    finally:
        await sender.stop()


async def test_nothing_reaches_a_banned_user_after_the_ban(env: BotEnv) -> None:
    sender = await _queue_alerts_and_start_sending(env, 20)
    try:
        [r] = await env.say(MOD, f"/ban {USER}", replies=1)
        assert r.text == env.tr("en", "ban-done", user=str(USER))
        arrived = len(_alerts(env))
        await asyncio.sleep(1.0)
        assert len(_alerts(env)) == arrived < 20
        async with env.sessions() as s:
            statuses = set(await s.scalars(select(Delivery.status)))
        assert statuses <= {"sent", "skipped"}
    finally:
        await sender.stop()


async def test_bad_input_gets_clear_replies_and_writes_nothing(env: BotEnv) -> None:
    await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    before = await row_counts(env.sessions)
    cases = {
        "/subscribe <b>bold</b>": env.tr("en", "handle-error", code="invalid", text="<b>bold</b>"),
        "/subscribe https://t.me/+AbCdEf": env.tr(
            "en", "handle-error", code="private_link", text="https://t.me/+AbCdEf"
        ),
        "/subscribe -12345": env.tr("en", "handle-error", code="not_channel", text="-12345"),
        "/subscribe @nosuchchannel": env.tr("en", "channel-not-watched", channel="@nosuchchannel"),
        "/filters @putdomoi x": env.tr("en", "not-subscribed", channel="Путь домой"),
        "/mute forever": env.tr("en", "mute-invalid", value="forever"),
        "/mute 100000d": env.tr("en", "mute-invalid", value="100000d"),
        "/digest sometimes": env.tr("en", "digest-usage"),
        "/lang xx<i>": env.tr("en", "lang-unknown", code="xx<i>", languages="en, ru"),
        "/frobnicate & <tag>": env.tr("en", "unknown-command", command="/frobnicate"),
        "hello <there> & you": env.tr("en", "unknown-text"),
        "/unmute": env.tr("en", "unmute-not-muted"),
        "/stop": env.tr("en", "stop-nothing"),
        "/kinds": env.tr("en", "kinds-usage"),
    }
    for text, expected in cases.items():
        [reply] = await env.say(USER, text, replies=1)
        assert reply.text == expected, text
    assert await row_counts(env.sessions) == before

    # Over-long and too many filters, for a real subscription.
    await env.say(USER, "/subscribe @putdomoi", replies=1)
    long_word = "a" * 65
    [r] = await env.say(USER, f"/filters @putdomoi ok, {long_word}", replies=1)
    assert r.text == env.tr("en", "filters-bad-keyword", keyword=long_word[:63] + "…", length=64)
    many = ", ".join(f"w{i}" for i in range(21))
    [r] = await env.say(USER, f"/filters @putdomoi {many}", replies=1)
    assert r.text == env.tr("en", "filters-too-many", max=20)
    [r] = await env.say(USER, "/filters @putdomoi <script>alert(1)</script>", replies=1)
    assert "<script>alert(1)</script>" in r.text
    [r] = await env.say(USER, "/filters @putdomoi -", replies=1)
    assert r.text == env.tr("en", "filters-cleared", channel="Путь домой")


async def test_mute_unmute_and_digest(make_env: Callable[..., Any]) -> None:
    digests = FakeDigests()
    env = await make_env(digests=digests)
    [r] = await env.say(USER, "/mute", replies=1)
    assert len(buttons(r)) == 4
    r, _ = await env.press(USER, r, buttons(r)["8 hours"])
    sub = await subscriber_of(env.sessions, USER)
    assert sub is not None and sub.muted_until is not None
    assert 7.9 * 3600 < (sub.muted_until - utcnow()).total_seconds() <= 8 * 3600
    await env.say(USER, "/mute 2d", replies=1)
    sub = await subscriber_of(env.sessions, USER)
    assert sub is not None and sub.muted_until is not None
    assert (sub.muted_until - utcnow()).total_seconds() > 47 * 3600
    [r] = await env.say(USER, "/unmute", replies=1)
    assert r.text == env.tr("en", "unmute-done")
    sub = await subscriber_of(env.sessions, USER)
    assert sub is not None and sub.muted_until is None

    [r] = await env.say(USER, "/digest off", replies=1)
    assert r.text == env.tr("en", "digest-off")
    sub = await subscriber_of(env.sessions, USER)
    assert sub is not None and not sub.digest_enabled
    [r] = await env.say(USER, "/digest", replies=1)
    assert r.text == env.tr("en", "digest-queued")
    assert digests.asked == [sub.id] and env.wakes == 1
    digests.has_content = False
    [r] = await env.say(USER, "/digest", replies=1)
    assert r.text == env.tr("en", "digest-empty")

    # /settings toggles the digest with a button.
    [r] = await env.say(USER, "/settings", replies=1)
    r, answer = await env.press(USER, r, buttons(r)[env.tr("en", "kb-digest-turn-on")])
    assert answer["text"] == env.tr("en", "digest-on")
    sub = await subscriber_of(env.sessions, USER)
    assert sub is not None and sub.digest_enabled


async def test_digest_unavailable_without_service(env: BotEnv) -> None:
    [r] = await env.say(USER, "/digest", replies=1)
    assert r.text == env.tr("en", "digest-unavailable")
    [r] = await env.say(MOD, "/digest_run", replies=1)
    assert r.text == env.tr("en", "digest-unavailable")


async def test_stale_buttons(env: BotEnv) -> None:
    domoi = await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    [listing] = await env.say(USER, "/channels", replies=1)

    async def unwatch(s: AsyncSession) -> None:
        ch = await channel_store.get(s, domoi)
        assert ch is not None
        await channel_store.unwatch(s, ch)

    await transaction(env.sessions, unwatch)
    before = await row_counts(env.sessions)
    listing, answer = await env.press(
        USER, listing, ChannelsCb(action="t", channel_id=domoi).pack()
    )
    assert answer["text"] == env.tr("en", "stale-channel") and answer["show_alert"]
    assert listing.text == env.tr("en", "channels-none")
    assert await row_counts(env.sessions) == before

    # A button this bot does not know at all (an old keyboard).
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="old", callback_data="zz:1:2")]]
    )
    sent = await env.bot.send_message(USER, "old keyboard", reply_markup=markup)
    old = next(m for m in env.received(USER) if m.message_id == sent.message_id)
    old, answer = await env.press(USER, old, "zz:1:2")
    assert answer["text"] == env.tr("en", "stale-button")
    assert not buttons(old)


async def test_blocked_user_comes_back(env: BotEnv) -> None:
    await env.say(USER, "/start", replies=1)

    async def block(s: AsyncSession) -> None:
        sub = await s.scalar(select(Subscriber).where(Subscriber.chat_id == USER))
        assert sub is not None
        sub.blocked_at = utcnow()
        sub.block_reason = "bot was blocked by the user"

    await transaction(env.sessions, block)
    [r] = await env.say(USER, "/start", replies=1)
    assert r.text.startswith(env.tr("en", "start-again", name="User"))
    sub = await subscriber_of(env.sessions, USER)
    assert sub is not None and sub.blocked_at is None and sub.block_reason is None


async def test_throttling_one_warning_then_silence(make_env: Callable[..., Any]) -> None:
    env = await make_env(throttle=(0.001, 3))
    updates = [env.sim.user_sends(USER, f"/help {i}") for i in range(8)]
    for u in updates:
        await env.until_handled(u["update_id"])
    texts = [m.text for m in env.received(USER)]
    assert texts.count(env.tr("en", "throttled")) == 1
    assert len(texts) == 4
    # Another user is not affected.
    await env.say(OTHER, "/help", replies=1)


async def test_replies_wait_out_telegram_flood_limit(make_env: Callable[..., Any]) -> None:
    env = await make_env(limits=BotAPILimits(per_chat_per_second=2.0, per_chat_burst=1))
    first = env.sim.user_sends(USER, "/help")
    second = env.sim.user_sends(USER, "/lang")
    await env.until_handled(first["update_id"])
    await env.until_handled(second["update_id"])
    assert len(env.received(USER)) == 2
    assert env.sim.stats.rate_limited >= 1


# --------------------------------------------------------------------------- moderators


async def complete_request(
    sessions: SessionMaker, code: str, *, tg_id: int | None = None, title: str = ""
) -> None:
    """Play the collector: answer the oldest pending watch request."""

    async def work(s: AsyncSession) -> None:
        req = await s.scalar(
            select(WatchRequest).where(WatchRequest.status == "pending").order_by(WatchRequest.id)
        )
        assert req is not None
        channel_id = None
        if tg_id is not None:
            ch, _ = await channel_store.add_or_rewatch(
                s,
                tg_id=tg_id,
                access_hash=42,
                username=req.handle.lstrip("@"),
                title=title,
                handle=req.handle,
                added_by=req.requested_by,
            )
            channel_id = ch.id
        req.status = "done" if tg_id is not None else "failed"
        req.result_code = code
        req.channel_id = channel_id
        req.done_at = utcnow()

    await transaction(sessions, work)


async def watch_and_answer(env: BotEnv, text: str, answer: Callable[[], Any]) -> list[str]:
    update = env.sim.user_sends(MOD, text)
    for _ in range(500):
        if env.received(MOD):
            break
        await asyncio.sleep(0.01)
    async with env.sessions() as s:
        pending = await s.scalar(select(func.count()).where(WatchRequest.status == "pending"))
    if pending:
        await answer()
    await env.until_handled(update["update_id"])
    return [m.text for m in env.received(MOD)]


async def test_moderator_watches_and_unwatches(env: BotEnv) -> None:
    texts = await watch_and_answer(
        env,
        "/watch https://t.me/putdomoi",
        lambda: complete_request(env.sessions, "added", tg_id=1_500_000_001, title="Путь домой"),
    )
    assert texts == [
        env.tr("en", "watch-requested", handle="@putdomoi"),
        env.tr("en", "watch-result", code="added", channel="Путь домой"),
    ]
    async with env.sessions() as s:
        req = await s.scalar(select(WatchRequest))
    assert req is not None and req.handle == "@putdomoi" and req.requested_by == MOD

    [watched] = await env.say(MOD, "/watched", replies=1)
    assert watched.text.startswith(env.tr("en", "watched-header", count=1))
    assert "Путь домой" in watched.text and env.tr("en", "flood-none") in watched.text

    # Already watched: answered at once, without bothering the collector.
    [r] = await env.say(MOD, "/watch @putdomoi", replies=1)
    assert r.text == env.tr("en", "watch-result", code="already", channel="Путь домой")

    [confirm] = await env.say(MOD, "/unwatch @putdomoi", replies=1)
    assert confirm.text == env.tr("en", "unwatch-confirm", channel="Путь домой")
    async with env.sessions() as s:
        ch = await channel_store.find(s, "putdomoi")
    assert ch is not None and ch.watched
    done, _ = await env.press(MOD, confirm, UnwatchCb(action="yes", channel_id=ch.id).pack())
    assert done.text == env.tr("en", "unwatch-done", channel="Путь домой")
    async with env.sessions() as s:
        ch = await channel_store.find(s, "putdomoi")
    assert ch is not None and not ch.watched and ch.removed_at is not None
    [r] = await env.say(MOD, "/watched", replies=1)
    assert r.text == env.tr("en", "watched-none")
    assert await audit_actions(env.sessions) == ["watch", "unwatch"]

    [r] = await env.say(MOD, "/audit", replies=1)
    assert "watch @putdomoi" in r.text and "unwatch putdomoi" in r.text


async def test_watch_outcomes(env: BotEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = await watch_and_answer(
        env, "/watch @durov_user", lambda: complete_request(env.sessions, "is_user")
    )
    assert texts[-1] == env.tr("en", "watch-result", code="is_user", channel="@durov_user")

    # The collector does not answer in time: the request stays queued.
    monkeypatch.setattr(watchlist, "WATCH_TIMEOUT", 0.1)
    [_, last] = await env.say(MOD, "/watch @slowchannel", replies=2)
    assert last.text == env.tr("en", "watch-queued", handle="@slowchannel")

    # Not a channel at all: nothing is asked of the collector.
    before = await row_counts(env.sessions)
    for text, code in [
        ("/watch t.me/joinchat/AAAA", "private_link"),
        ("/watch <b>x</b>", "invalid"),
        ("/watch -42", "not_channel"),
    ]:
        [r] = await env.say(MOD, text, replies=1)
        raw = text.split(maxsplit=1)[1]
        assert r.text == env.tr("en", "handle-error", code=code, text=raw)
    [r] = await env.say(MOD, "/watch", replies=1)
    assert r.text == env.tr("en", "watch-usage")
    assert await row_counts(env.sessions) == before


async def test_moderator_status_and_events(env: BotEnv) -> None:
    domoi = await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    await post_event(env.sessions, domoi, 5, "Первый <пост> & всё")
    [r] = await env.say(MOD, "/events @putdomoi", replies=1)
    assert r.text.startswith(env.tr("en", "events-header", channel="Путь домой", count=1))
    assert "Первый <пост> & всё" in r.text
    [r] = await env.say(MOD, "/events @putdomoi 999", replies=1)
    assert r.text == env.tr("en", "events-usage", max=30)
    [r] = await env.say(MOD, "/events @unknownchan", replies=1)
    assert r.text == env.tr("en", "channel-unknown", channel="@unknownchan")

    from datetime import timedelta

    from storage import assignments, status

    async def report(s: AsyncSession) -> None:
        data = {
            "connected": True,
            "lag_seconds": 12.4,
            "flood_waits": {"ResolveUsernameRequest": 30},
            "unreadable": ["Безымянный <канал>"],
        }
        await status.put(s, status.collector_row("acc-a"), data)
        # Two processes' web previews and downloads; only the second's media store is full.
        for owner, requests, full in (("acc-a", 3, 0), ("acc-b", 5, 1)):
            web = {"requests": requests, "fetch_errors": 0, "backoff_seconds": 0}
            await status.put(s, status.process_row(status.WEBPREVIEW, owner), web)
            await status.put(s, status.process_row(status.DOWNLOADS, owner), {"full": full})
        # Two accounts divide the channels; the second is flood-limited.
        a = await assignments.register(s, "account", "acc-a", 450, utcnow())
        b = await assignments.register(s, "account", "acc-b", 450, utcnow())
        await assignments.rebalance(s, a, utcnow(), 60.0)
        until = utcnow() + timedelta(hours=2)
        await assignments.rebalance(s, b, utcnow(), 60.0, limited=(until, "FLOOD_WAIT 7200s"))

    await transaction(env.sessions, report)
    [r] = await env.say(MOD, "/status", replies=1)
    assert "Account acc-a: 1 channels, 0 joined, heartbeat 0 s ago" in r.text
    assert "Account acc-b: 0 channels" in r.text and "(FLOOD_WAIT 7200s)" in r.text
    assert "Collector acc-a: connected" in r.text
    assert env.tr("en", "status-lag", seconds=12) in r.text
    assert "ResolveUsernameRequest 30 s" in r.text
    assert env.tr("en", "status-unreadable", count=1, channels="Безымянный <канал>") in r.text
    assert env.tr("en", "status-outbox", pending=0, sending=0, failed=0) in r.text
    assert "Web preview acc-a: 3 requests" in r.text and "Web preview acc-b: 5 requests" in r.text
    assert env.tr("en", "status-media-full") in r.text


async def test_broadcast_preview_confirm_and_delivery(env: BotEnv) -> None:
    await env.say(USER, "/start", replies=1)
    await env.say(OTHER, "/lang ru", lang="ru", replies=1)
    text = "<b>Not bold</b> & AT&T\nsecond line"
    [preview] = await env.say(MOD, f"/broadcast {text}", replies=1)
    assert text in preview.text
    assert preview.text.startswith(env.tr("en", "broadcast-preview", count=2))
    assert await row_counts(env.sessions) != {}
    async with env.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Delivery)) == 0
        preview_id = await s.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "broadcast_preview")
        )
    assert preview_id is not None
    done, _ = await env.press(MOD, preview, BroadcastCb(action="yes", preview_id=preview_id).pack())
    assert done.text == env.tr("en", "broadcast-sent", count=2)
    assert env.wakes == 1
    async with env.sessions() as s:
        rows = list(await s.scalars(select(Delivery).order_by(Delivery.id)))
        subs = {sub.chat_id: sub.id for sub in await s.scalars(select(Subscriber))}
    assert {r.dedupe_key for r in rows} == {
        f"broadcast:{preview_id}:{subs[USER]}",
        f"broadcast:{preview_id}:{subs[OTHER]}",
    }
    assert all(r.kind == "broadcast" for r in rows)
    await Sender(env.bot, env.sessions, per_chat=1000).drain_once()
    [en_msg] = env.received(USER)[1:]
    assert en_msg.text.startswith(env.tr("en", "ev-broadcast")) and text in en_msg.text
    [ru_msg] = env.received(OTHER)[1:]
    assert ru_msg.text.startswith(env.tr("ru", "ev-broadcast")) and text in ru_msg.text
    assert await audit_actions(env.sessions) == ["broadcast_preview", "broadcast_send"]


async def test_broadcast_cancel(env: BotEnv) -> None:
    await env.say(USER, "/start", replies=1)
    [preview] = await env.say(MOD, "/broadcast hello", replies=1)
    cancel = next(d for d in buttons(preview).values() if d.startswith("bc:no:"))
    done, _ = await env.press(MOD, preview, cancel)
    assert done.text == env.tr("en", "broadcast-cancelled")
    async with env.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Delivery)) == 0


async def test_digest_run_with_confirmation(make_env: Callable[..., Any]) -> None:
    digests = FakeDigests(run_count=3)
    env = await make_env(digests=digests)
    [confirm] = await env.say(MOD, "/digest_run", replies=1)
    assert digests.runs == 0
    done, _ = await env.press(MOD, confirm, buttons(confirm)[env.tr("en", "kb-digest-run-yes")])
    assert done.text == env.tr("en", "digest-run-done", count=3)
    assert digests.runs == 1 and env.wakes == 1
    assert await audit_actions(env.sessions) == ["digest_run"]


async def test_moderators_granted_and_revoked_in_the_bot(env: BotEnv) -> None:
    [r] = await env.say(OTHER, "/watched", replies=1)
    assert r.text == env.tr("en", "mod-only")
    [r] = await env.say(MOD, f"/mod add {OTHER}", replies=1)
    assert r.text == env.tr("en", "mod-added", user=str(OTHER))
    scope = f'{{"chat_id":{OTHER},"type":"chat"}}'
    assert "watch" in [c["command"] for c in env.sim.my_commands[(scope, "")]]
    [r] = await env.say(OTHER, "/watched", replies=1)
    assert r.text == env.tr("en", "watched-none")
    [r] = await env.say(MOD, f"/mod remove {OTHER}", replies=1)
    assert r.text == env.tr("en", "mod-removed", user=str(OTHER))
    assert (scope, "") not in env.sim.my_commands
    [r] = await env.say(OTHER, "/watched", replies=1)
    assert r.text == env.tr("en", "mod-only")
    [r] = await env.say(MOD, f"/mod remove {MOD}", replies=1)
    assert r.text == env.tr("en", "mod-configured", user=str(MOD))
    assert await audit_actions(env.sessions) == ["mod_add", "mod_remove"]


async def test_ban_and_unban(env: BotEnv) -> None:
    await env.say(USER, "/start", replies=1)
    [r] = await env.say(MOD, f"/ban {USER}", replies=1)
    assert r.text == env.tr("en", "ban-done", user=str(USER))
    before = await row_counts(env.sessions)
    for text in ("/help", "/subscribe @putdomoi", "hello"):
        [r] = await env.say(USER, text, replies=1)
        assert r.text == env.tr("en", "banned")
    assert await row_counts(env.sessions) == before
    [r] = await env.say(MOD, f"/ban {MOD}", replies=1)
    assert r.text == env.tr("en", "ban-self")
    [r] = await env.say(MOD, "/ban someone", replies=1)
    assert r.text == env.tr("en", "ban-usage")
    [r] = await env.say(MOD, f"/unban {USER}", replies=1)
    assert r.text == env.tr("en", "unban-done", user=str(USER))
    [r] = await env.say(USER, "/help", replies=1)
    assert r.text == env.tr("en", "help-subscriber")
    assert await audit_actions(env.sessions) == ["ban", "unban"]


MODERATOR_CALLS = {
    "watch": "/watch @putdomoi",
    "unwatch": "/unwatch @putdomoi",
    "watched": "/watched",
    "status": "/status",
    "events": "/events @putdomoi",
    "pack": "/pack @putdomoi",
    "mod": f"/mod add {USER}",
    "ban": f"/ban {OTHER}",
    "unban": f"/unban {OTHER}",
    "broadcast": "/broadcast hello everyone",
    "audit": "/audit",
    "digest_run": "/digest_run",
}


def test_every_moderator_command_is_tried() -> None:
    assert set(MODERATOR_CALLS) == set(MODERATOR_COMMANDS)


@pytest.mark.parametrize("command", MODERATOR_COMMANDS)
async def test_non_moderator_is_refused(make_env: Callable[..., Any], command: str) -> None:
    env = await make_env(digests=FakeDigests())
    await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    before = await row_counts(env.sessions)
    for lang in ("en", "ru"):
        [r] = await env.say(USER, MODERATOR_CALLS[command], lang=lang, replies=1)
        assert r.text == env.tr(lang, "mod-only")
    assert await row_counts(env.sessions) == before
    assert env.wakes == 0


async def test_non_moderator_cannot_press_moderator_buttons(env: BotEnv) -> None:
    domoi = await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    data = UnwatchCb(action="yes", channel_id=domoi).pack()
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="y", callback_data=data)]]
    )
    sent = await env.bot.send_message(USER, "forwarded confirmation", reply_markup=markup)
    [msg] = [m for m in env.received(USER) if m.message_id == sent.message_id]
    before = await row_counts(env.sessions)
    _, answer = await env.press(USER, msg, data)
    assert answer["text"] == env.tr("en", "mod-only")
    assert await row_counts(env.sessions) == before


async def test_command_menus_per_scope(env: BotEnv) -> None:
    await set_commands(env.bot, env.t, [MOD])
    menus = env.sim.my_commands
    default = '{"type":"default"}'
    mod_scope = f'{{"chat_id":{MOD},"type":"chat"}}'
    for code in ("", "en", "ru"):
        names = [c["command"] for c in menus[(default, code)]]
        assert names == list(SUBSCRIBER_COMMANDS)
        mod_names = [c["command"] for c in menus[(mod_scope, code)]]
        assert mod_names == list(SUBSCRIBER_COMMANDS + MODERATOR_COMMANDS)
    ru = {c["command"]: c["description"] for c in menus[(default, "ru")]}
    en = {c["command"]: c["description"] for c in menus[(default, "en")]}
    assert ru["help"] == env.tr("ru", "cmd-help") != en["help"]


async def test_failure_to_reply_is_reported_not_crashed(env: BotEnv) -> None:
    env.sim.fail_next(1, 400, "Bad Request: can't parse entities: injected", ["sendMessage"])
    [r] = await env.say(USER, "/help", replies=1)
    assert r.text == env.tr("en", "error-generic")
    [r] = await env.say(USER, "/help", replies=1)
    assert r.text == env.tr("en", "help-subscriber")


async def test_channel_list_pages(env: BotEnv) -> None:
    for i in range(11):
        await add_channel(
            env.sessions, f"chan{i:02d}x", f"Channel {i:02d}", tg_id=1_600_000_000 + i
        )
    [listing] = await env.say(USER, "/channels", replies=1)
    assert "Channel 00" in listing.text and "Channel 08" not in listing.text
    nxt = buttons(listing)[env.tr("en", "kb-next")]
    listing, _ = await env.press(USER, listing, nxt)
    assert "Channel 08" in listing.text and "Channel 00" not in listing.text
    assert env.tr("en", "kb-prev") in buttons(listing)
    # Subscribing on page 2 keeps page 2.
    toggle = next(d for text, d in buttons(listing).items() if text.endswith("Channel 10"))
    listing, _ = await env.press(USER, listing, toggle)
    assert "✅ Channel 10" in buttons(listing)


async def test_unwatch_from_the_list_and_cancel(env: BotEnv) -> None:
    domoi = await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    [choose] = await env.say(MOD, "/unwatch", replies=1)
    confirm, _ = await env.press(MOD, choose, UnwatchCb(action="ask", channel_id=domoi).pack())
    assert confirm.text == env.tr("en", "unwatch-confirm", channel="Путь домой")
    done, _ = await env.press(MOD, confirm, UnwatchCb(action="no", channel_id=domoi).pack())
    assert done.text == env.tr("en", "unwatch-cancelled")
    async with env.sessions() as s:
        ch = await channel_store.get(s, domoi)
    assert ch is not None and ch.watched
    assert await audit_actions(env.sessions) == []


async def test_channel_arguments_answer_before_and_without_a_lookup(env: BotEnv) -> None:
    """Each command that names a channel answers as it did when it looked the channel up
    itself: usage first where the rest of the command is wrong, its own words for a
    channel it cannot act on."""
    await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    await add_channel(env.sessions, "gonechannel", "Gone", tg_id=1_500_000_002, watched=False)
    before = await row_counts(env.sessions)
    cases = {
        (MOD, "/unwatch @nosuch"): env.tr("en", "unwatch-not-watched", channel="@nosuch"),
        (MOD, "/unwatch @gonechannel"): env.tr("en", "unwatch-not-watched", channel="@gonechannel"),
        (MOD, "/unwatch <b>x</b>"): env.tr("en", "handle-error", code="invalid", text="<b>x</b>"),
        (MOD, "/events @nosuch 999"): env.tr("en", "events-usage", max=30),
        (MOD, "/events"): env.tr("en", "events-usage", max=30),
        # No signing key: the usage, whatever channel is named.
        (MOD, "/pack @putdomoi"): env.tr("en", "pack-usage"),
        (MOD, "/pack @nosuch"): env.tr("en", "pack-usage"),
        (USER, "/subscribe @gonechannel"): env.tr(
            "en", "channel-not-watched", channel="@gonechannel"
        ),
        (USER, "/kinds @nosuch"): env.tr("en", "channel-unknown", channel="@nosuch"),
    }
    for (user, text), expected in cases.items():
        [reply] = await env.say(user, text, replies=1)
        assert reply.text == expected, text
    assert await row_counts(env.sessions) == before


async def test_with_the_real_digest_service(
    make_env: Callable[..., Any], sessions: SessionMaker
) -> None:
    from bot.digest.service import DigestService

    settings = Settings(_env_file=None, moderator_ids=(MOD,))  # type: ignore[call-arg]
    env = await make_env(digests=DigestService(sessions, TRANSLATOR, settings))
    domoi = await add_channel(sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    [r] = await env.say(USER, "/digest", replies=1)
    assert r.text == env.tr("en", "digest-empty")  # follows nothing yet
    await env.say(USER, "/subscribe @putdomoi", replies=1)
    await post_event(sessions, domoi, 1, "a post")
    [r] = await env.say(USER, "/digest", replies=1)
    assert r.text == env.tr("en", "digest-queued")
    async with sessions() as s:
        kinds = list(await s.scalars(select(Delivery.kind)))
    assert kinds == ["digest"]
    before = len(env.received(USER))
    await Sender(env.bot, sessions, per_chat=1000).drain_once()
    assert len(env.received(USER)) > before

    [confirm] = await env.say(MOD, "/digest_run", replies=1)
    done, _ = await env.press(MOD, confirm, buttons(confirm)[env.tr("en", "kb-digest-run-yes")])
    assert done.text in {env.tr("en", "digest-run-done", count=n) for n in (0, 1)}


async def test_moderator_gets_a_proof_pack_and_sees_the_key(
    make_env: Callable[..., Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import zipfile

    from chanwatch import proofcheck
    from chanwatch.keys import pretty
    from tests import proofkit

    signer = proofkit.signer(tmp_path)
    env = await make_env(signer=signer, media_dir=tmp_path / "media")
    await proofkit.history(env.sessions, tmp_path / "media")
    [r] = await env.say(MOD, "/status", replies=1)
    assert pretty(signer.fingerprint) in r.text

    [doc] = await env.say(MOD, "/pack @putdomoi", lang="ru", replies=1)
    assert doc.method == "sendDocument" and doc.document_name == "putdomoi.zip"
    assert doc.caption == env.tr("ru", "pack-caption", records=11, media=1)
    pack = tmp_path / "got.zip"
    pack.write_bytes(doc.document or b"")
    report = proofcheck.verify(pack)
    assert report.ok, report.problems
    with zipfile.ZipFile(io.BytesIO(doc.document or b"")) as zf:
        assert 'lang="ru"' in zf.read("index.html").decode()

    # Above the Bot API's upload limit the moderator is told the command instead.
    monkeypatch.setattr(evidence, "BOT_UPLOAD_LIMIT", 1000)
    [r] = await env.say(MOD, "/pack @putdomoi", replies=1)
    assert r.method == "sendMessage"
    assert "chanwatch export @putdomoi --format pack -o putdomoi.zip" in (r.text or "")
    [r] = await env.say(MOD, "/pack", replies=1)
    assert r.text == env.tr("en", "pack-usage")
    [r] = await env.say(MOD, "/pack @nosuchchannel", replies=1)
    assert "nosuchchannel" in (r.text or "")


# --------------------------------------------------------------------------- username takeover


async def test_deleted_channel_gives_its_name_up_and_watch_takes_the_new_holder(
    env: BotEnv,
) -> None:
    """A watched channel is deleted and another channel takes its name: the alert says it
    was deleted without linking the name, and /watch @name watches the new channel."""
    world = World(service_messages=False)
    world.create_channel(username="putdomoi", title="Путь домой", about="", participants=10)
    client = make_simulated_client(world, **CLIENT_OPTIONS)
    config = CollectorConfig(poll_min=0.05, poll_max=0.2, refresh_every=3600, tick=0.05)
    collector = Collector(client, env.sessions, config)
    await collector.start()
    try:
        [_, added] = await env.say(MOD, "/watch @putdomoi", replies=2)
        assert added.text == env.tr("en", "watch-result", code="added", channel="Путь домой")
        await env.say(MOD, "/subscribe @putdomoi", replies=1)

        async def joined() -> bool:
            async with env.sessions() as s:
                return bool(await s.scalar(select(Channel.joined)))

        await _eventually(joined)
        world.delete_channel("putdomoi")  # members get UpdateChannel; the name is free

        async def unavailable() -> bool:
            async with env.sessions() as s:
                return bool(await s.scalar(select(func.count()).select_from(Event)))

        await _eventually(unavailable)
        before = len(env.received(MOD))
        await route_and_deliver(env)
        [alert] = env.received(MOD)[before:]
        assert alert.text.startswith("🗑 Путь домой was deleted"), alert.text
        assert "t.me/putdomoi" not in (alert.source or ""), "the name may lead elsewhere now"

        world.create_channel(username="putdomoi", title="Самозванец", about="", participants=5)
        [_, taken] = await env.say(MOD, "/watch @putdomoi", replies=2)
        assert taken.text == env.tr("en", "watch-result", code="added", channel="Самозванец")
        [listing] = await env.say(MOD, "/watched", replies=1)
        assert "Путь домой" in listing.text and "Самозванец" in listing.text
        links = [e.get("url", "") for e in listing.entities if e.get("type") == "text_link"]
        assert links == ["https://t.me/putdomoi"], "only the new holder is linked by the name"
    finally:
        await collector.stop()
        await client.disconnect()


async def _eventually(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
