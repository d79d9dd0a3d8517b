"""The simulated Bot API, exercised by a real aiogram Bot over real HTTP.

Each test checks what a user of the bot (or of Telegram) would observe: what
arrives in a chat, and which errors aiogram raises.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from aiogram.utils.formatting import Bold, Text
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.botapi import (
    BotAPIControlClient,
    BotAPILimits,
    BotAPISimulator,
    HtmlParseError,
    parse_html,
    utf16_len,
)
from tests.support import png_bytes

USER = 4242
OTHER = 5151


class FakeClock:
    """A monotonic clock the test moves by hand, so flood tests need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_bot(sim: BotAPISimulator, token: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(sim.base_url))
    return Bot(token or sim.token, session=session)


def keyboard(*datas: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=d[:10] or "x", callback_data=d)] for d in datas]
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[BotAPISimulator]:
    async with BotAPISimulator(clock=clock) as simulator:
        yield simulator


@pytest.fixture
async def bot(sim: BotAPISimulator) -> AsyncIterator[Bot]:
    instance = make_bot(sim)
    yield instance
    await instance.session.close()


# ----------------------------------------------------------------- messages and HTML


async def test_message_arrives_with_text_and_entities(sim: BotAPISimulator, bot: Bot) -> None:
    value = "<b>not bold</b> & co"
    sent = await bot.send_message(USER, f"<b>Alert</b>: {html.escape(value)}", parse_mode="HTML")

    [got] = sim.received(USER)
    assert got.text == "Alert: <b>not bold</b> & co"
    assert got.entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert got.message_id == sent.message_id and got.method == "sendMessage"
    assert sent.text == got.text and sent.entities[0].type == "bold"
    assert sent.from_user is not None and sent.from_user.username == sim.bot_username
    assert sim.received(OTHER) == []


async def test_html_entities_are_measured_in_utf16(sim: BotAPISimulator, bot: Bot) -> None:
    await bot.send_message(USER, "😀 <i>ok</i>", parse_mode="HTML")
    [got] = sim.received(USER)
    assert got.entities == [{"type": "italic", "offset": 3, "length": 2}]


async def test_unclosed_tag_is_refused_and_nothing_arrives(sim: BotAPISimulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities") as err:
        await bot.send_message(USER, "<b>x", parse_mode="HTML")
    assert 'Can\'t find end tag corresponding to start tag "b"' in err.value.message
    assert sim.received(USER) == []
    assert sim.stats.bad_requests == 1


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("see</a>", "Unexpected end tag at byte offset 3"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("AT&T", 'Unescaped "&"'),
        ("&nbsp;", 'Unescaped "&"'),
    ],
)
async def test_invalid_html_is_refused(bot: Bot, source: str, detail: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities") as err:
        await bot.send_message(USER, source, parse_mode="HTML")
    assert detail in err.value.message


async def test_lenient_ampersand_keeps_it_as_text_like_telegram() -> None:
    async with BotAPISimulator(strict_html_ampersand=False) as sim:
        bot = make_bot(sim)
        try:
            await bot.send_message(USER, "AT&T &amp; &lt;", parse_mode="HTML")
        finally:
            await bot.session.close()
        assert sim.received(USER)[0].text == "AT&T & <"


async def test_entities_from_aiogram_formatting_are_kept(sim: BotAPISimulator, bot: Bot) -> None:
    await bot.send_message(USER, **Text(Bold("Fake"), " label added").as_kwargs())
    [got] = sim.received(USER)
    assert got.text == "Fake label added"
    assert got.entities == [{"type": "bold", "offset": 0, "length": 4}]


async def test_empty_text_is_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "  <b></b> \n", parse_mode="HTML")


# ----------------------------------------------------------------- lengths


async def test_text_length_limit_is_4096_utf16_units(sim: BotAPISimulator, bot: Bot) -> None:
    await bot.send_message(USER, "a" * 4096)
    await bot.send_message(USER, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(USER, "&lt;" * 4096, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "a" * 4097)
    assert [len(m.text or "") for m in sim.received(USER)] == [4096, 4096, 4096]


async def test_emoji_count_as_two_units(sim: BotAPISimulator, bot: Bot) -> None:
    await bot.send_message(USER, "😀" * 2048)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "😀" * 2049)
    assert len(sim.received(USER)) == 1


async def test_caption_limit_is_1024(sim: BotAPISimulator, bot: Bot) -> None:
    photo = BufferedInputFile(png_bytes(), "chart.png")
    await bot.send_photo(USER, photo, caption="c" * 1024)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, photo, caption="c" * 1025)
    assert [m.caption for m in sim.received(USER)] == ["c" * 1024]


# ----------------------------------------------------------------- flood limits


async def test_burst_beyond_chat_limit_gets_retry_after(
    sim: BotAPISimulator, bot: Bot, clock: FakeClock
) -> None:
    for i in range(3):
        await bot.send_message(USER, f"m{i}")
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(USER, "too fast")
    assert err.value.retry_after >= 1
    assert "Too Many Requests: retry after" in err.value.message
    await bot.send_message(OTHER, "another chat is not limited")

    clock.advance(err.value.retry_after)
    await bot.send_message(USER, "after waiting")
    assert [m.text for m in sim.received(USER)] == ["m0", "m1", "m2", "after waiting"]
    assert sim.stats.rate_limited == 1


async def test_retry_after_on_the_real_monotonic_clock() -> None:
    limits = BotAPILimits(per_chat_per_second=5.0, per_chat_burst=1)
    async with BotAPISimulator(limits=limits) as sim:
        bot = make_bot(sim)
        try:
            await bot.send_message(USER, "one")
            with pytest.raises(TelegramRetryAfter) as err:
                await bot.send_message(USER, "two")
            assert err.value.retry_after == 1
            await asyncio.sleep(err.value.retry_after)
            await bot.send_message(USER, "two")
        finally:
            await bot.session.close()
        assert [m.text for m in sim.received(USER)] == ["one", "two"]


async def test_overall_limit_across_many_chats(sim: BotAPISimulator, bot: Bot) -> None:
    sim.limits = BotAPILimits(overall_per_second=10.0, overall_burst=10)
    results = await asyncio.gather(
        *(bot.send_message(1000 + i, "digest") for i in range(60)), return_exceptions=True
    )
    delivered = [r for r in results if isinstance(r, Message)]
    refused = [r for r in results if isinstance(r, TelegramRetryAfter)]
    assert len(delivered) == 10 and len(refused) == 50
    assert all(r.retry_after >= 1 for r in refused)
    assert len(sim.all_sent()) == 10 == sim.stats.messages_accepted
    assert sim.stats.rate_limited == 50


async def test_paid_broadcast_lifts_the_overall_limit_and_is_charged_above_it(
    sim: BotAPISimulator, bot: Bot, clock: FakeClock
) -> None:
    sim.limits = BotAPILimits(overall_per_second=10.0, overall_burst=10, paid_burst=50)
    free = await asyncio.gather(
        *(bot.send_message(1000 + i, "free") for i in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, TelegramRetryAfter) for r in free) == 10
    clock.advance(1)  # the free bucket is full again
    paid = await asyncio.gather(
        *(bot.send_message(2000 + i, "paid", allow_paid_broadcast=True) for i in range(60)),
        return_exceptions=True,
    )
    # Telegram's paid limit (here its burst of 50) instead of the free 10: the 10 within
    # the free limit cost nothing, the 40 above it are charged.
    assert sum(isinstance(r, Message) for r in paid) == 50
    assert sum(isinstance(r, TelegramRetryAfter) for r in paid) == 10
    assert sim.stats.paid_messages == 40
    assert sim.stats.messages_accepted == 60


async def test_group_limit_is_per_minute(sim: BotAPISimulator, bot: Bot, clock: FakeClock) -> None:
    sim.limits = BotAPILimits(per_group_per_minute=2)
    group = -1001234567890
    await bot.send_message(group, "one")
    await bot.send_message(group, "two")
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(group, "three")
    assert err.value.retry_after == 30
    clock.advance(29)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(group, "three")
    clock.advance(1)
    await bot.send_message(group, "three")
    assert [m.text for m in sim.received(group)] == ["one", "two", "three"]


async def test_fixed_retry_after_and_runtime_limits(sim: BotAPISimulator, bot: Bot) -> None:
    sim.limits = BotAPILimits(per_chat_burst=1, retry_after=7)
    await bot.send_message(USER, "one")
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(USER, "two")
    assert err.value.retry_after == 7
    sim.limits = BotAPILimits(per_chat_burst=5)
    await bot.send_message(USER, "two")


# ----------------------------------------------------------------- chat states and faults


async def test_blocked_deactivated_and_unknown_chats(sim: BotAPISimulator, bot: Bot) -> None:
    sim.block(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello")
    sim.unblock(USER)
    await bot.send_message(USER, "hello")

    sim.deactivate(OTHER)
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.send_message(OTHER, "hello")

    sim.forget(777)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "hello")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(777)

    assert [m.text for m in sim.all_sent()] == ["hello"]
    assert sim.stats.forbidden == 2


async def test_blocked_user_who_writes_again_is_unblocked(sim: BotAPISimulator, bot: Bot) -> None:
    sim.block(USER)
    sim.user_sends(USER, "/start")
    await bot.send_message(USER, "welcome back")


async def test_injected_server_errors_then_success(sim: BotAPISimulator, bot: Bot) -> None:
    sim.fail_next(2, 500)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(USER, "alert")
    await bot.send_message(USER, "alert")
    assert [m.text for m in sim.received(USER)] == ["alert"]
    assert sim.stats.server_errors == 2


async def test_injected_errors_can_target_methods(sim: BotAPISimulator, bot: Bot) -> None:
    sim.fail_next(1, 503, methods={"sendphoto"})
    await bot.send_message(USER, "text is fine")
    with pytest.raises(TelegramServerError, match="Service Unavailable"):
        await bot.send_photo(USER, BufferedInputFile(png_bytes(), "chart.png"))
    await bot.send_photo(USER, BufferedInputFile(png_bytes(), "chart.png"))
    assert len(sim.received(USER)) == 2


async def test_down_and_latency(sim: BotAPISimulator, bot: Bot) -> None:
    sim.set_down(True)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()
    sim.set_down(False)
    sim.set_latency(0.2)
    started = time.monotonic()
    me = await bot.get_me()
    assert time.monotonic() - started >= 0.2
    assert me.username == "chanwatch_bot" and me.id == bot.id


async def test_wrong_token_is_unauthorized(sim: BotAPISimulator) -> None:
    stranger = make_bot(sim, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_raw_http_forms_method_case_and_unknown_method(sim: BotAPISimulator) -> None:
    base = f"{sim.base_url}/bot{sim.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/SENDMESSAGE", json={"chat_id": USER, "text": "json"}) as r:
            assert r.status == 200 and (await r.json())["result"]["text"] == "json"
        async with http.post(
            f"{base}/sendMessage", data={"chat_id": str(USER), "text": "form"}
        ) as r:
            assert r.status == 200
        async with http.get(f"{base}/sendMessage", params={"chat_id": USER, "text": "query"}) as r:
            assert r.status == 200
        async with http.post(f"{base}/sendTelepathy", data={}) as r:
            assert r.status == 404
            assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert [m.text for m in sim.received(USER)] == ["json", "form", "query"]
    assert sim.stats.requests["sendMessage"] == 3


# ----------------------------------------------------------------- keyboards and edits


async def test_callback_data_over_64_bytes_is_refused(sim: BotAPISimulator, bot: Bot) -> None:
    await bot.send_message(USER, "ok", reply_markup=keyboard("я" * 32))  # 64 bytes
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "too long", reply_markup=keyboard("a" * 65))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "too long", reply_markup=keyboard("я" * 33))
    assert [m.text for m in sim.received(USER)] == ["ok"]


async def test_edits_follow_telegram_rules(sim: BotAPISimulator, bot: Bot) -> None:
    sent = await bot.send_message(USER, "v1", reply_markup=keyboard("mute"))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="v1", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("mute")
        )
    edited = await bot.edit_message_text(
        text="<i>v2</i>", chat_id=USER, message_id=sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, Message) and edited.edit_date is not None
    [got] = sim.received(USER)
    assert got.text == "v2" and got.edited and got.reply_markup is None  # keyboard removed
    assert got.history[0]["text"] == "v1"

    await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("unmute")
    )
    assert sim.received(USER)[0].reply_markup == keyboard("unmute").model_dump(exclude_none=True)

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=USER, message_id=999)
    assert await bot.delete_message(USER, sent.message_id)
    assert sim.received(USER)[0].deleted
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


# ----------------------------------------------------------------- photos and albums


async def test_photo_upload_is_stored(sim: BotAPISimulator, bot: Bot) -> None:
    chart = png_bytes(1600, 900)
    sent = await bot.send_photo(
        USER, BufferedInputFile(chart, "chart.png"), caption="<b>Subscribers</b>", parse_mode="HTML"
    )
    [got] = sim.received(USER)
    assert got.photo == chart and got.caption == "Subscribers"
    assert got.entities == [{"type": "bold", "offset": 0, "length": 11}]
    assert sent.photo is not None and (sent.photo[-1].width, sent.photo[-1].height) == (1600, 900)
    assert sent.caption_entities is not None

    again = await bot.send_photo(OTHER, sent.photo[-1].file_id)
    assert sim.received(OTHER)[0].photo == chart and again.photo is not None

    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", "chart.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(USER, "no-such-file-id")


async def test_media_group(sim: BotAPISimulator, bot: Bot) -> None:
    first, second = png_bytes(10, 10), png_bytes(20, 10)
    sent = await bot.send_media_group(
        USER,
        [
            InputMediaPhoto(media=BufferedInputFile(first, "a.png"), caption="week 1"),
            InputMediaPhoto(media=BufferedInputFile(second, "b.png")),
        ],
    )
    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id
    got = sim.received(USER)
    assert [m.photo for m in got] == [first, second]
    assert [m.caption for m in got] == ["week 1", None]
    assert {m.method for m in got} == {"sendMediaGroup"}

    too_many = [InputMediaPhoto(media=BufferedInputFile(first, "a.png")) for _ in range(11)]
    with pytest.raises(TelegramBadRequest, match="too many messages to send as an album"):
        await bot.send_media_group(USER, too_many)
    alone = [InputMediaPhoto(media=BufferedInputFile(first, "a.png"))]
    with pytest.raises(TelegramBadRequest, match="must include 2-10 items"):
        await bot.send_media_group(USER, alone)
    assert len(sim.received(USER)) == 2  # refused albums left nothing behind
    ten = [InputMediaPhoto(media=BufferedInputFile(first, "a.png")) for _ in range(10)]
    assert len(await bot.send_media_group(OTHER, ten)) == 10


async def test_uploaded_photos_are_kept_byte_for_byte(sim: BotAPISimulator, bot: Bot) -> None:
    archived = png_bytes(640, 480)
    other = png_bytes(320, 240)
    await bot.send_photo(USER, BufferedInputFile(archived, "archived.png"), caption="удалён")
    await bot.send_media_group(
        USER,
        [
            InputMediaPhoto(media=BufferedInputFile(archived, "a.png"), caption="альбом"),
            InputMediaPhoto(media=BufferedInputFile(other, "b.png")),
        ],
    )
    got = sim.received(USER)
    digest = hashlib.sha256
    assert [digest(m.photo).hexdigest() for m in got] == [
        digest(archived).hexdigest(),
        digest(archived).hexdigest(),
        digest(other).hexdigest(),
    ]


async def test_caption_limit_counts_utf16_units(sim: BotAPISimulator, bot: Bot) -> None:
    photo = BufferedInputFile(png_bytes(), "p.png")
    await bot.send_photo(USER, photo, caption="🎬" * 512)  # 1024 UTF-16 units
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, photo, caption="🎬" * 512 + "x")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_media_group(
            USER,
            [
                InputMediaPhoto(media=photo, caption="я" * 1025),
                InputMediaPhoto(media=photo),
            ],
        )
    assert [m.caption for m in sim.received(USER)] == ["🎬" * 512]


# ----------------------------------------------------------------- commands


async def test_commands_are_stored_per_scope(sim: BotAPISimulator, bot: Bot) -> None:
    everyone = [BotCommand(command="start", description="Start")]
    moderator = [*everyone, BotCommand(command="channels", description="Watched channels")]
    await bot.set_my_commands(everyone)
    await bot.set_my_commands(moderator, scope=BotCommandScopeChat(chat_id=USER))
    await bot.set_my_commands(everyone, language_code="ru")

    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    scoped = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=USER))
    assert [c.command for c in scoped] == ["start", "channels"]
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=OTHER)) == []
    assert ('{"chat_id":4242,"type":"chat"}', "") in sim.my_commands
    assert ('{"type":"default"}', "ru") in sim.my_commands

    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=USER))
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=USER)) == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


# ----------------------------------------------------------------- updates


async def test_simulated_updates_validate_in_aiogram(sim: BotAPISimulator, bot: Bot) -> None:
    private = sim.user_sends(USER, "/start ref", language_code="ru", username="masha")
    group = sim.user_sends(USER, "hello all", chat_id=-1001234567890, first_name="Masha")
    p = Update.model_validate(private, context={"bot": bot})
    g = Update.model_validate(group, context={"bot": bot})
    assert p.message is not None and p.message.chat.type == "private"
    assert p.message.entities is not None and p.message.entities[0].type == "bot_command"
    assert p.message.from_user is not None and p.message.from_user.language_code == "ru"
    assert g.message is not None and g.message.chat.type == "supergroup"


async def test_get_updates_offset_and_long_poll(sim: BotAPISimulator, bot: Bot) -> None:
    sim.user_sends(USER, "one")
    sim.user_sends(USER, "two")
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    assert len(await bot.get_updates(timeout=0)) == 2  # not confirmed yet
    assert await bot.get_updates(offset=first[-1].update_id + 1, timeout=0) == []

    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    sim.user_sends(USER, "three")
    got = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in got if u.message] == ["three"]


async def test_second_get_updates_terminates_the_first(sim: BotAPISimulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    assert await second == []


async def test_user_cannot_press_a_button_that_is_not_there(sim: BotAPISimulator, bot: Bot) -> None:
    sent = await bot.send_message(USER, "choose", reply_markup=keyboard("a"))
    with pytest.raises(ValueError, match="no inline button"):
        sim.user_presses(USER, sent.message_id, "b")
    with pytest.raises(ValueError, match="no message"):
        sim.user_presses(USER, 999, "a")


async def test_dispatcher_polling_start_and_button(sim: BotAPISimulator, bot: Bot) -> None:
    dp = Dispatcher()
    handled = asyncio.Event()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome! Follow a channel?", reply_markup=keyboard("follow:putdomoi"))

    @dp.callback_query(F.data.startswith("follow:"))
    async def follow(query: CallbackQuery) -> None:
        await query.answer("Following")
        assert isinstance(query.message, Message)
        await query.message.edit_text("You follow putdomoi")
        handled.set()

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        sim.user_sends(USER, "/start")
        for _ in range(100):
            if sim.received(USER):
                break
            await asyncio.sleep(0.02)
        [welcome] = sim.received(USER)
        assert welcome.text == "Welcome! Follow a channel?"

        query_id = sim.user_presses(USER, welcome.message_id, "follow:putdomoi")
        await asyncio.wait_for(handled.wait(), 3)
    finally:
        await dp.stop_polling()
        await polling

    [answer] = sim.callback_answers()
    assert answer["callback_query_id"] == query_id and answer["text"] == "Following"
    assert answer["user_id"] == USER and answer["data"] == "follow:putdomoi"
    [message] = sim.received(USER)
    assert message.text == "You follow putdomoi" and message.edited


async def test_answering_a_query_twice_is_refused(sim: BotAPISimulator, bot: Bot) -> None:
    sent = await bot.send_message(USER, "choose", reply_markup=keyboard("a"))
    query_id = sim.user_presses(USER, sent.message_id, "a")
    await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)


# ----------------------------------------------------------------- control API and CLI


async def test_control_api_round_trip(sim: BotAPISimulator, bot: Bot) -> None:
    async with BotAPIControlClient(sim.base_url) as ctl:
        update = await ctl.user_sends(USER, "/start", language_code="ru")
        [seen] = await bot.get_updates(timeout=0)
        assert seen.update_id == update["update_id"] and seen.message is not None
        assert seen.message.text == "/start"

        await bot.send_photo(
            USER,
            BufferedInputFile(png_bytes(), "c.png"),
            caption="chart",
            reply_markup=keyboard("more"),
        )
        [got] = await ctl.received(USER)
        assert got.caption == "chart" and got.photo == png_bytes()
        query_id = await ctl.user_presses(USER, got.message_id, "more")
        await bot.answer_callback_query(query_id, text="ok")
        assert (await ctl.callback_answers())[0]["text"] == "ok"

        await ctl.block(USER)
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(USER, "x")
        await ctl.unblock(USER)
        await ctl.fail_next(1, 500)
        with pytest.raises(TelegramServerError):
            await bot.send_message(USER, "x")
        limits = await ctl.limits(per_chat_burst=1)
        assert limits["per_chat_burst"] == 1 and sim.limits.per_chat_burst == 1
        stats = await ctl.stats()
        assert stats["forbidden"] == 1 and stats["server_errors"] == 1
        assert stats["requests"]["sendPhoto"] == 1 and stats["messages_accepted"] == 1


async def test_control_body_that_is_not_an_object_is_a_clear_400(sim: BotAPISimulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.base_url}/control/user_sends", json=[USER, "/start"]) as resp:
            assert resp.status == 400
            assert await resp.json() == {"ok": False, "error": "body must be an object"}
    assert sim.stats.as_dict()["requests"] == {}


async def test_cli_prints_base_url_and_serves() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator.botapi", "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        base_url = line.decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base_url}/bot123456:TEST/getMe") as resp:
                assert (await resp.json())["result"]["username"] == "chanwatch_bot"
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 5) == 0


# ----------------------------------------------------------------- the HTML parser itself


def test_parser_supports_telegram_tags() -> None:
    parsed = parse_html(
        '<pre><code class="language-python">x = 1</code></pre>'
        '<blockquote expandable>q</blockquote><span class="tg-spoiler">s</span>'
        '<a href="https://t.me/putdomoi">link</a>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert parsed.text == "x = 1qslink👍"
    types = [(e["type"], e["offset"], e["length"]) for e in parsed.entities]
    assert types == [
        ("pre", 0, 5),
        ("expandable_blockquote", 5, 1),
        ("spoiler", 6, 1),
        ("text_link", 7, 4),
        ("custom_emoji", 11, 2),
    ]
    assert parsed.entities[0]["language"] == "python"
    with pytest.raises(HtmlParseError, match="Invalid custom emoji identifier"):
        parse_html('<tg-emoji emoji-id="x">y</tg-emoji>')


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_escaped_text_always_parses_back(value: str) -> None:
    parsed = parse_html(html.escape(value))
    assert parsed.text == value and parsed.entities == []
    assert utf16_len(value) == len(value.encode("utf-16-le")) // 2
