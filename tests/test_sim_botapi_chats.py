"""Groups, forum topics and channels in the simulated Bot API, through a real aiogram Bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramMigrateToChat
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner, Update

from simulator.botapi import BotAPISimulator
from tests.harness import simulated_bot

ADMIN, OWNER, MEMBER, STRANGER = 11, 12, 13, 14
GROUP = -4_001
SUPER = -1_000_000_004_002
CHANNEL = -1_000_000_004_003


@pytest.fixture
async def pair() -> AsyncIterator[tuple[BotAPISimulator, Bot]]:
    async with simulated_bot() as both:
        yield both


@pytest.fixture
def sim(pair: tuple[BotAPISimulator, Bot]) -> BotAPISimulator:
    return pair[0]


@pytest.fixture
def bot(pair: tuple[BotAPISimulator, Bot]) -> Bot:
    return pair[1]


def updates(sim: BotAPISimulator, kind: str, bot: Bot) -> list[Update]:
    return [
        Update.model_validate(u, context={"bot": bot}) for u in sim.pending_updates() if kind in u
    ]


async def test_members_and_admins_answer_get_chat_member(sim: BotAPISimulator, bot: Bot) -> None:
    sim.create_chat(
        GROUP, "group", title="Newsroom", creator=OWNER, admins=[ADMIN], members=[MEMBER]
    )
    sim.set_bot_status(GROUP, "member", by=OWNER)
    owner = await bot.get_chat_member(GROUP, OWNER)
    admin = await bot.get_chat_member(GROUP, ADMIN)
    assert isinstance(owner, ChatMemberOwner)
    assert isinstance(admin, ChatMemberAdministrator) and admin.can_manage_chat
    assert (await bot.get_chat_member(GROUP, MEMBER)).status == "member"
    assert (await bot.get_chat_member(GROUP, STRANGER)).status == "left"
    sim.set_member(GROUP, MEMBER, "kicked")
    assert (await bot.get_chat_member(GROUP, MEMBER)).status == "kicked"
    chat = await bot.get_chat(GROUP)
    assert chat.type == "group" and chat.title == "Newsroom"


async def test_my_chat_member_updates_follow_the_bot(sim: BotAPISimulator, bot: Bot) -> None:
    sim.create_chat(GROUP, "group", creator=OWNER)
    sim.set_bot_status(GROUP, "member", by=OWNER)
    sim.set_bot_status(GROUP, "kicked", by=OWNER)
    [added, kicked] = updates(sim, "my_chat_member", bot)
    assert added.my_chat_member is not None and kicked.my_chat_member is not None
    assert added.my_chat_member.old_chat_member.status == "left"
    assert added.my_chat_member.new_chat_member.status == "member"
    assert added.my_chat_member.from_user.id == OWNER
    assert kicked.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the group chat"):
        await bot.send_message(GROUP, "hello")
    assert sim.received(GROUP) == []


async def test_bot_not_in_the_group_cannot_post_and_members_must_be_in_to_write(
    sim: BotAPISimulator, bot: Bot
) -> None:
    sim.create_chat(GROUP, "group", creator=OWNER, members=[MEMBER])
    with pytest.raises(TelegramForbiddenError, match="not a member of the group chat"):
        await bot.send_message(GROUP, "hello")
    with pytest.raises(ValueError, match="bot is not in chat"):
        sim.user_sends(MEMBER, "/start", chat_id=GROUP)
    sim.set_bot_status(GROUP, "member", by=OWNER)
    with pytest.raises(ValueError, match="not a member"):
        sim.user_sends(STRANGER, "/start", chat_id=GROUP)
    sim.user_sends(MEMBER, "/start", chat_id=GROUP)
    await bot.send_message(GROUP, "hello")
    assert [m.text for m in sim.received(GROUP)] == ["hello"]


async def test_forum_topics_carry_message_thread_id(sim: BotAPISimulator, bot: Bot) -> None:
    sim.create_chat(SUPER, "supergroup", is_forum=True, creator=OWNER)
    sim.set_bot_status(SUPER, "member", by=OWNER)
    topic = sim.create_topic(SUPER, "Put' Domoi")
    update = Update.model_validate(
        sim.user_sends(OWNER, "/topic @putdomoi", chat_id=SUPER, message_thread_id=topic),
        context={"bot": bot},
    )
    assert update.message is not None and update.message.message_thread_id == topic
    assert update.message.is_topic_message and update.message.chat.is_forum
    sent = await bot.send_message(SUPER, "in topic", message_thread_id=topic)
    assert sent.message_thread_id == topic
    await bot.send_message(SUPER, "general")
    assert [m.text for m in sim.received(SUPER, topic=topic)] == ["in topic"]
    assert [m.text for m in sim.received(SUPER)] == ["in topic", "general"]
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(SUPER, "nowhere", message_thread_id=topic + 100)


async def test_channel_needs_the_right_to_post(sim: BotAPISimulator, bot: Bot) -> None:
    sim.create_chat(CHANNEL, "channel", title="Watchers", username="watchers", creator=OWNER)
    sim.set_bot_status(CHANNEL, "administrator", by=OWNER, can_post_messages=False)
    with pytest.raises(TelegramBadRequest, match="need administrator rights in the channel"):
        await bot.send_message(CHANNEL, "post")
    sim.set_bot_status(CHANNEL, "administrator", by=OWNER, can_post_messages=True)
    me = await bot.get_chat_member("@watchers", sim.bot_id)
    assert isinstance(me, ChatMemberAdministrator) and me.can_post_messages
    assert (await bot.get_chat_member("@watchers", OWNER)).status == "creator"
    await bot.send_message("@watchers", "post")
    assert [m.text for m in sim.received(CHANNEL)] == ["post"]
    with pytest.raises(ValueError, match="users do not write in a channel"):
        sim.user_sends(OWNER, "hi", chat_id=CHANNEL)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat_member("@nosuchchannel", OWNER)


async def test_group_migrates_to_a_supergroup(sim: BotAPISimulator, bot: Bot) -> None:
    sim.create_chat(GROUP, "group", creator=OWNER, admins=[ADMIN])
    sim.set_bot_status(GROUP, "member", by=OWNER)
    sim.migrate(GROUP, SUPER, by=OWNER)
    messages = [u.message for u in updates(sim, "message", bot) if u.message]
    assert [(m.chat.id, m.migrate_to_chat_id, m.migrate_from_chat_id) for m in messages] == [
        (GROUP, SUPER, None),
        (SUPER, None, GROUP),
    ]
    with pytest.raises(TelegramMigrateToChat) as err:
        await bot.send_message(GROUP, "old id")
    assert err.value.migrate_to_chat_id == SUPER
    await bot.send_message(SUPER, "new id")
    assert (await bot.get_chat_member(SUPER, ADMIN)).status == "administrator"
    assert [m.text for m in sim.received(SUPER)] == ["new id"]


async def test_admins_post_anonymously_and_users_post_as_their_channel(
    sim: BotAPISimulator, bot: Bot
) -> None:
    sim.create_chat(SUPER, "supergroup", title="Newsroom", creator=OWNER, admins=[ADMIN])
    sim.set_member(SUPER, MEMBER, "member")
    sim.create_chat(CHANNEL, "channel", title="Watchers", creator=MEMBER)
    sim.set_bot_status(SUPER, "member", by=OWNER)
    sim.pending_updates()
    sim.user_sends(ADMIN, "/settings", chat_id=SUPER, sender_chat=SUPER)
    sim.user_sends(MEMBER, "/settings", chat_id=SUPER, sender_chat=CHANNEL)
    anonymous, as_channel = (u.message for u in updates(sim, "message", bot))
    assert anonymous is not None and as_channel is not None
    # Telegram's placeholders in `from`; the chat posted as in `sender_chat`.
    assert anonymous.from_user is not None and anonymous.from_user.id == 1087968824
    assert anonymous.from_user.username == "GroupAnonymousBot"
    assert anonymous.sender_chat is not None and anonymous.sender_chat.id == SUPER
    assert as_channel.from_user is not None and as_channel.from_user.username == "Channel_Bot"
    assert as_channel.sender_chat is not None and as_channel.sender_chat.type == "channel"
    # Only admins post as the group; only a channel's admins post as it.
    with pytest.raises(ValueError, match="not an admin"):
        sim.user_sends(MEMBER, "/settings", chat_id=SUPER, sender_chat=SUPER)
    with pytest.raises(ValueError, match="does not run"):
        sim.user_sends(ADMIN, "/settings", chat_id=SUPER, sender_chat=CHANNEL)
