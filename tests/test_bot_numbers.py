"""Numbers typed into commands and carried by buttons: ASCII digits in Telegram's range only.

"²" used to raise inside int(), "٣" used to be read as 3 (so `/ban ٣` banned user 3),
and a forged button with a 25-digit id reached the database.
"""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from storage.models import Subscriber
from tests import botkit
from tests.botkit import MOD, USER, BotEnv, add_channel, row_counts

# The bot end-to-end fixtures: a dispatcher polling the simulated Bot API.
make_env, env, quick_watch = botkit.make_env, botkit.env, botkit.quick_watch

BAD_NUMBERS = ["²", "٣", "1²", "1" * 25, "-5", "0", "１２", "1_0", "9" * 17]


@pytest.mark.parametrize("number", BAD_NUMBERS)
async def test_bad_numbers_in_commands_get_the_usage(env: BotEnv, number: str) -> None:
    await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    await env.say(MOD, "/start", replies=1)
    before = await row_counts(env.sessions)
    cases = {
        f"/ban {number}": env.tr("en", "ban-usage"),
        f"/unban {number}": env.tr("en", "unban-usage"),
        f"/mod add {number}": env.tr("en", "mod-usage"),
        f"/mod remove {number}": env.tr("en", "mod-usage"),
        f"/audit {number}": env.tr("en", "audit-usage", max=50),
        f"/events @putdomoi {number}": env.tr("en", "events-usage", max=30),
    }
    for text, expected in cases.items():
        [reply] = await env.say(MOD, text, replies=1)
        assert reply.text == expected, text
    [reply] = await env.say(USER, f"/channels {number}", replies=1)
    assert "Путь домой" in (reply.text or "")
    assert await row_counts(env.sessions) == before
    async with env.sessions() as s:
        assert await s.get(Subscriber, 3) is None or not (await s.get(Subscriber, 3)).banned_at


async def test_in_range_ids_still_work(env: BotEnv) -> None:
    [reply] = await env.say(MOD, "/ban 4503599627370495", replies=1)  # 2**52 - 1
    assert reply.text == env.tr("en", "ban-done", user="4503599627370495")
    [reply] = await env.say(MOD, "/events @nosuch 3", replies=1)
    assert reply.text == env.tr("en", "channel-unknown", channel="@nosuch")


@pytest.mark.parametrize(
    "data",
    [
        "ch:t:99999999999999999999999999:0",
        "ch:page:0:99999999999999999999999999",
        "ch:t:٣:0",
        "ch:t:1_0:0",
        "ch:t:-1:0",
        "kd:99999999999999999999999999:posts",
        "uw:yes:99999999999999999999999999",
        "uw:ask:²",
    ],
)
async def test_forged_buttons_are_stale_not_errors(env: BotEnv, data: str) -> None:
    await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    await env.say(MOD, "/start", replies=1)
    # A client may send any callback data with a button press; here it is on a button.
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="forged", callback_data=data)]]
    )
    sent = await env.bot.send_message(MOD, "forged", reply_markup=markup)
    [forged] = [m for m in env.received(MOD) if m.message_id == sent.message_id]
    before = await row_counts(env.sessions)
    _, answer = await env.press(MOD, forged, data)
    assert answer.get("text") in (env.tr("en", "stale-button"), env.tr("en", "stale-channel"))
    assert await row_counts(env.sessions) == before


@pytest.mark.parametrize("char", ["a", "&", "<"])
async def test_twenty_long_filters_are_shown_not_placeholders(env: BotEnv, char: str) -> None:
    """Twenty 64-character filters exceed Fluent's 2500-character placeable once escaped;
    /filters and /settings show them all, cut with "…" where needed, never "{???}"."""
    await add_channel(env.sessions, "putdomoi", "Путь домой", tg_id=1_500_000_001)
    await env.say(USER, "/subscribe @putdomoi", replies=1)
    words = [f"{i:02d}" + char * 62 for i in range(20)]
    replies = [
        *(await env.say(USER, "/filters @putdomoi " + ", ".join(words), replies=1)),
        *(await env.say(USER, "/filters @putdomoi", replies=1)),
        *(await env.say(USER, "/settings")),
    ]
    for reply in replies:
        text = reply.text or ""
        assert "{???}" not in text
        for word in words:
            shown = word if char == "a" else word[:2] + char
            assert f"“{shown}" in text, text[:300]
