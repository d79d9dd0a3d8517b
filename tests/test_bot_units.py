"""The bot's pieces that need no Telegram: catalogs, callback data, parsing, throttling."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import Message, TelegramObject
from hypothesis import given
from hypothesis import strategies as st

from bot.handlers import get_routers
from bot.handlers.base import parse_channel
from bot.handlers.subscriber import parse_period, split_keywords
from bot.keyboards import (
    ALL_CALLBACKS,
    MODERATOR_COMMANDS,
    MUTE_CHOICES,
    SUBSCRIBER_COMMANDS,
    BroadcastCb,
    ChannelsCb,
    DigestRunCb,
    KindsCb,
    LangCb,
    MuteCb,
    SettingsCb,
    StopCb,
    UnwatchCb,
    bot_commands,
)
from bot.middlewares import Throttle
from collectors.handles import HandleError
from tests.botkit import TRANSLATOR

BOT_DIR = Path(__file__).resolve().parent.parent / "bot"
BIG = 2**63 - 1


def test_callback_data_fits_in_64_bytes() -> None:
    samples: list[CallbackData] = [
        ChannelsCb(action="t", channel_id=BIG, page=99_999),
        KindsCb(channel_id=BIG, group="deletions"),
        LangCb(code="ru"),
        SettingsCb(action="d"),
        MuteCb(period="7d"),
        StopCb(action="yes"),
        UnwatchCb(action="ask", channel_id=BIG),
        BroadcastCb(action="yes", preview_id=BIG),
        DigestRunCb(action="yes"),
    ]
    assert {type(s) for s in samples} == set(ALL_CALLBACKS)
    for sample in samples:
        assert len(sample.pack().encode()) <= 64, sample
    prefixes = [cb.__prefix__ for cb in ALL_CALLBACKS]
    assert len(prefixes) == len(set(prefixes))


def test_both_catalogs_have_the_same_keys_and_variables() -> None:
    t = TRANSLATOR
    assert t.keys("en") == t.keys("ru")
    for key in t.keys("en"):
        assert t.variables("en", key) == t.variables("ru", key), key


def test_every_key_the_bot_uses_exists() -> None:
    key_re = re.compile(r'"([a-z][a-z0-9]*(?:-[a-z0-9_]+)+)"')
    sources = [BOT_DIR / "keyboards.py", BOT_DIR / "middlewares.py", BOT_DIR / "filters.py"]
    sources += [BOT_DIR / "dispatcher.py", *sorted((BOT_DIR / "handlers").glob("*.py"))]
    used = {key for path in sources for key in key_re.findall(path.read_text("utf-8"))}
    assert len(used) > 100
    used |= {f"cmd-{name}" for name in SUBSCRIBER_COMMANDS + MODERATOR_COMMANDS}
    used |= {f"kb-mute-{period}" for period in MUTE_CHOICES}
    for lang in TRANSLATOR.languages:
        missing = sorted(k for k in used if not TRANSLATOR.has(lang, k))
        assert not missing, (lang, missing)


def test_catalog_text_is_html_safe() -> None:
    for lang in ("en", "ru"):
        source = (BOT_DIR / "locales" / lang / "bot.ftl").read_text("utf-8")
        lines = [line for line in source.splitlines() if not line.startswith("#")]
        body = "\n".join(lines).replace("->", "")  # Fluent selectors
        assert not re.search(r"[<>]|&(?!amp;|lt;|gt;|quot;)", body), lang


def test_menus_match_the_handlers() -> None:
    chats, targets, common, subscriber, moderator, _fallback = get_routers()

    def commands(router: Router) -> set[str]:
        names: set[str] = set()
        for handler in router.message.handlers:
            for f in handler.filters or []:
                if isinstance(f.callback, Command):
                    names |= {str(c) for c in f.callback.commands}
        for sub in router.sub_routers:  # the moderators' routers, behind one gate
            names |= commands(sub)
        return names

    everyone = commands(chats) | commands(targets) | commands(common) | commands(subscriber)
    assert everyone == set(SUBSCRIBER_COMMANDS)
    assert commands(moderator) == set(MODERATOR_COMMANDS)
    # The gatekeeper stands before every moderator handler, messages and buttons alike.
    assert len(moderator.message.middleware) == 1
    assert len(moderator.callback_query.middleware) == 1


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_command_descriptions(lang: str) -> None:
    menu = bot_commands(TRANSLATOR, lang, moderator=True)
    assert [c.command for c in menu] == list(SUBSCRIBER_COMMANDS + MODERATOR_COMMANDS)
    for c in menu:
        assert 1 <= len(c.description) <= 256 and re.fullmatch(r"[a-z0-9_]{1,32}", c.command)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("мобилизация война", ["мобилизация", "война"]),
        ('мобилизация, "путь домой"', ["мобилизация", "путь домой"]),
        ('"a, b", c', ["a, b", "c"]),
        ("«фраза, с запятой», слово", ["фраза, с запятой", "слово"]),
        (",,  ,", []),
        ("", []),
    ],
)
def test_split_keywords(text: str, expected: list[str]) -> None:
    assert split_keywords(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("8h", timedelta(hours=8)),
        ("1d", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("12", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2 д", timedelta(days=2)),
        ("0", None),
        ("366d", None),
        ("-1h", None),
        ("soon", None),
        ("1.5h", None),
    ],
)
def test_parse_period(text: str, expected: timedelta | None) -> None:
    assert parse_period(text) == expected


@given(st.text(max_size=300))
def test_parse_channel_only_raises_handle_errors(text: str) -> None:
    try:
        parse_channel(text)
    except HandleError:
        pass


def test_throttle_bucket() -> None:
    now = [0.0]
    throttle = Throttle(rate=1.0, burst=3, clock=lambda: now[0])
    assert [throttle.allow(7) for _ in range(5)] == [
        (True, False),
        (True, False),
        (True, False),
        (False, True),
        (False, False),
    ]
    assert throttle.allow(8) == (True, False)  # per user
    now[0] += 1.0
    assert throttle.allow(7) == (True, False)
    assert throttle.allow(7) == (False, True)  # warned again after getting through


async def test_throttle_counts_anonymous_admins_per_group() -> None:
    """Every anonymous admin's `from` is @GroupAnonymousBot: each group has its own bucket."""
    throttle = Throttle(rate=0.001, burst=1)
    placeholder = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    handled: list[int] = []

    async def handler(event: TelegramObject, data: dict[str, Any]) -> None:
        assert isinstance(event, Message)
        handled.append(event.chat.id)

    for group in (-1_001, -1_002, -1_003):
        chat = {"id": group, "type": "supergroup", "title": "Newsroom"}
        message = Message.model_validate(
            {
                "message_id": 1,
                "date": 0,
                "chat": chat,
                "from": placeholder,
                "sender_chat": chat,
                "text": "/settings",
            }
        )
        user = message.from_user
        await throttle(handler, message, {"event_from_user": user, "t": TRANSLATOR})
    assert handled == [-1_001, -1_002, -1_003]
