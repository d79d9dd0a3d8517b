"""Property: any text after any command gets an answer, and the database stays sound."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.handlers import watchlist
from bot.keyboards import MODERATOR_COMMANDS, SUBSCRIBER_COMMANDS
from bot.keywords import MAX_KEYWORD_LEN, MAX_KEYWORDS, normalize
from bot.textsplit import utf16_len
from collectors.handles import parse_handle
from storage.kinds import GROUPS
from storage.models import (
    AuditEntry,
    Channel,
    Delivery,
    Subscriber,
    Subscription,
    WatchRequest,
)
from storage.types import utcnow
from tests.botkit import (  # noqa: F401 - fixtures
    MOD,
    TRANSLATOR,
    USER,
    BotEnv,
    FakeDigests,
    add_channel,
    make_env,
)

COMMANDS = SUBSCRIBER_COMMANDS + MODERATOR_COMMANDS
KNOWN_ACTIONS = {
    "watch",
    "unwatch",
    "mod_add",
    "mod_remove",
    "ban",
    "unban",
    "broadcast_preview",
    "broadcast_send",
    "broadcast_cancel",
    "digest_run",
}
TRICKY = [
    "",
    "<b>",
    "</i>",
    "&",
    "&amp;",
    "AT&T",
    "@putdomoi",
    "@PutDomoi <b>x</b>",
    '@putdomoi "a, b", c*',
    "@putdomoi -",
    "https://t.me/putdomoi 5",
    "t.me/+invite",
    "a[b",
    "http://[::1",
    "add 2002",
    "remove 2002",
    "add 1001",
    "2002",
    "1001",
    "on",
    "off",
    "1h",
    "0",
    "-1",
    "99999999999999999999999",
    "ru",
    "en",
    "🙂" * 50,
    "\u202e\u200d\ufeff",
    "\x00\x07 nul",
]


def args() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(TRICKY),
        st.text(max_size=80),
        st.text(alphabet="<>&\"'/@ ,-*abcXYZ_0123456789ёЖ\n", max_size=60),
        st.tuples(st.sampled_from(TRICKY), st.text(max_size=40)).map(" ".join),
        st.builds(lambda c, n: c * n, st.characters(), st.integers(500, 4000)),
    )


def fit(text: str) -> str:
    """Telegram accepts at most 4096 UTF-16 units of text."""
    while utf16_len(text) > 4096:
        text = text[: len(text) - (utf16_len(text) - 4096 + 1) // 2 - 1]
    return text


async def assert_consistent(env: BotEnv) -> None:
    now = utcnow()
    async with env.sessions() as s:
        subscribers = {sub.id: sub for sub in await s.scalars(select(Subscriber))}
        channels = set(await s.scalars(select(Channel.id)))
        for sub in subscribers.values():
            assert sub.language in TRANSLATOR.languages
            assert sub.muted_until is None or sub.muted_until <= now + timedelta(days=366)
        for sp in await s.scalars(select(Subscription)):
            assert sp.subscriber_id in subscribers and sp.channel_id in channels
            assert sp.event_kinds and set(sp.event_kinds) <= set(GROUPS)
            assert len(sp.keywords) <= MAX_KEYWORDS
            for word in sp.keywords:
                assert 0 < len(word) <= MAX_KEYWORD_LEN and normalize(word) == word
        for delivery in await s.scalars(select(Delivery)):
            assert delivery.subscriber_id in subscribers
            assert delivery.chat_id == subscribers[delivery.subscriber_id].chat_id
        for req in await s.scalars(select(WatchRequest)):
            parse_handle(req.handle)
            assert req.requested_by == MOD
        # Acting as a moderator: MOD (configured), or a user made one by "/mod add 2002"
        # until removed or banned.
        moderators = {MOD}
        for entry in await s.scalars(select(AuditEntry).order_by(AuditEntry.id)):
            assert entry.action in KNOWN_ACTIONS and entry.actor_user_id in moderators
            if entry.action == "mod_add":
                moderators.add(int(entry.target))
            elif entry.action in ("mod_remove", "ban") and int(entry.target) != MOD:
                moderators.discard(int(entry.target))


@pytest.fixture(autouse=True)
def instant_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchlist, "WATCH_TIMEOUT", 0.05)
    monkeypatch.setattr(watchlist, "WATCH_POLL_INTERVAL", 0.01)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    user=st.sampled_from([MOD, USER]),
    command=st.sampled_from(COMMANDS),
    arg=args(),
    lang=st.sampled_from(["en", "ru", "uk", "de", ""]),
)
async def test_any_text_to_any_command(
    make_env: Callable[..., Any],  # noqa: F811 - the fixture imported above
    user: int,
    command: str,
    arg: str,
    lang: str,
) -> None:
    env = await _shared_env(make_env)
    text = fit(f"/{command} {arg}".strip())
    replies = await env.say(user, text, lang=lang)
    assert replies, f"no answer to {text!r}"
    errors = {
        TRANSLATOR.get(code, key)
        for code in TRANSLATOR.languages
        for key in ("error-generic", "error-busy")
    }
    assert not [r.text for r in replies if r.text in errors], text
    await assert_consistent(env)


async def _shared_env(factory: Any) -> BotEnv:
    """One running bot for all examples of one test run (per database)."""
    env: BotEnv | None = getattr(factory, "shared", None)
    if env is None:
        env = await factory(digests=FakeDigests())
        await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
        await env.say(USER, "/subscribe @putdomoi", replies=1)
        factory.shared = env
    return env
