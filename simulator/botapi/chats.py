"""Groups, supergroups, forum topics and channels of the simulated Bot API.

A chat registered here has members with a status and admin rights; the bot is one of
them. The server asks :meth:`Chats.send_refusal` before a message goes in, answers
getChatMember from :meth:`Chats.member_json`, and queues ``my_chat_member`` updates when
the bot's own status changes. Chats not registered here keep the server's old behaviour
(any negative id is a group that accepts messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ADMIN_RIGHTS",
    "ANONYMOUS_ADMIN",
    "CHANNEL_SENDER",
    "ChatState",
    "Chats",
    "Member",
    "RefusedError",
]

# https://core.telegram.org/bots/api#chatmemberadministrator: the rights every
# administrator has a value for (aiogram requires each of them).
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)
CHANNEL_RIGHTS = ("can_post_messages", "can_edit_messages")
SUPERGROUP_RIGHTS = ("can_pin_messages", "can_manage_topics")
STATUSES = ("creator", "administrator", "member", "left", "kicked")

# The placeholder users Telegram puts in `from` of a message posted on behalf of a chat
# (https://core.telegram.org/bots/api#message, `from` and `sender_chat`): the group itself
# for an anonymous admin, a channel for a user posting as their channel.
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_SENDER = {
    "id": 136817688,
    "is_bot": True,
    "first_name": "Channel",
    "username": "Channel_Bot",
}


class RefusedError(Exception):
    """What Telegram answers instead of delivering: (code, description, migrate_to)."""

    def __init__(self, code: int, description: str, migrate_to: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.migrate_to = migrate_to


@dataclass
class Member:
    status: str
    rights: dict[str, bool] = field(default_factory=dict)

    def is_in(self) -> bool:
        return self.status in ("creator", "administrator", "member")


@dataclass
class ChatState:
    id: int
    type: str  # group, supergroup, channel
    title: str
    username: str | None = None
    is_forum: bool = False
    members: dict[int, Member] = field(default_factory=dict)
    #: Forum topics: message_thread_id -> name.
    topics: dict[int, str] = field(default_factory=dict)
    migrated_to: int | None = None

    def member(self, user_id: int) -> Member:
        return self.members.get(user_id) or Member("left")

    def json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            chat["username"] = self.username
        if self.is_forum:
            chat["is_forum"] = True
        return chat

    @property
    def word(self) -> str:
        """How Telegram's error texts name the chat: "group", "supergroup", "channel"."""
        return self.type


class Chats:
    """Every registered group, supergroup and channel, by id and by username."""

    def __init__(self) -> None:
        self.by_id: dict[int, ChatState] = {}

    def get(self, chat_id: int) -> ChatState | None:
        return self.by_id.get(chat_id)

    def by_username(self, username: str) -> ChatState | None:
        wanted = username.lstrip("@").lower()
        for chat in self.by_id.values():
            if chat.username and chat.username.lower() == wanted and chat.migrated_to is None:
                return chat
        return None

    def add(self, chat: ChatState) -> ChatState:
        if chat.id >= 0:
            raise ValueError("group and channel ids are negative")
        if chat.type not in ("group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {chat.type!r}")
        if chat.is_forum and chat.type != "supergroup":
            raise ValueError("only a supergroup can be a forum")
        if chat.type != "group" and chat.id > -1_000_000_000_000:
            raise ValueError("supergroup and channel ids are -100… (below -10**12)")
        self.by_id[chat.id] = chat
        return chat

    @staticmethod
    def rights_for(chat: ChatState, status: str, given: dict[str, bool]) -> dict[str, bool]:
        """The full set of rights a member of this status holds in this kind of chat."""
        if status == "creator":
            return {}
        if status != "administrator":
            return {}
        names = list(ADMIN_RIGHTS)
        if chat.type == "channel":
            names += CHANNEL_RIGHTS
        elif chat.type == "supergroup":
            names += SUPERGROUP_RIGHTS
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(f"rights {sorted(unknown)} do not exist in a {chat.type}")
        # An administrator promoted without saying more may manage the chat and post.
        defaults = {name: name in ("can_manage_chat", "can_post_messages") for name in names}
        return defaults | given

    def member_json(self, chat: ChatState, user: dict[str, Any], user_id: int) -> dict[str, Any]:
        member = chat.member(user_id)
        data: dict[str, Any] = {"status": member.status, "user": user}
        if member.status == "creator":
            data["is_anonymous"] = False
        elif member.status == "administrator":
            data.update(can_be_edited=False, is_anonymous=False, **member.rights)
        elif member.status == "kicked":
            data["until_date"] = 0
        return data

    def send_refusal(self, chat_id: int, bot_id: int, thread_id: int | None) -> None:
        """Raise what Telegram answers when the bot may not post here (registered chats only)."""
        chat = self.by_id.get(chat_id)
        if chat is None:
            return
        if chat.migrated_to is not None:
            raise RefusedError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                chat.migrated_to,
            )
        bot = chat.member(bot_id)
        if bot.status == "kicked":
            raise RefusedError(403, f"Forbidden: bot was kicked from the {chat.word} chat")
        if not bot.is_in():
            raise RefusedError(403, f"Forbidden: bot is not a member of the {chat.word} chat")
        if chat.type == "channel" and not (
            bot.status == "creator" or bot.rights.get("can_post_messages")
        ):
            raise RefusedError(400, "Bad Request: need administrator rights in the channel chat")
        if thread_id is not None and (not chat.is_forum or thread_id not in chat.topics):
            raise RefusedError(400, "Bad Request: message thread not found")
