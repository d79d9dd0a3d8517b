"""Resolve what a moderator typed into a channel we can watch; once, then stored."""

from __future__ import annotations

from dataclasses import dataclass

from telethon import TelegramClient, errors
from telethon.tl import functions, types

from collectors.handles import Handle


class ResolveError(Exception):
    """Not a watchable channel; `code` is a catalog key suffix, `seconds` set for flood waits."""

    def __init__(self, code: str, detail: str = "", seconds: int = 0) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.seconds = seconds


@dataclass(frozen=True)
class Resolved:
    tg_id: int
    access_hash: int
    username: str | None
    title: str


def _check(entity: object, handle: Handle) -> Resolved:
    if isinstance(entity, types.User):
        raise ResolveError("is_bot" if entity.bot else "is_user", str(handle))
    if isinstance(entity, types.ChannelForbidden):
        raise ResolveError("private", str(handle))
    if isinstance(entity, types.Chat | types.ChatForbidden):
        raise ResolveError("not_channel", str(handle))
    if not isinstance(entity, types.Channel):
        raise ResolveError("not_channel", str(handle))
    if entity.megagroup or entity.gigagroup:
        raise ResolveError("is_group", str(handle))
    if entity.access_hash is None:
        raise ResolveError("private", str(handle))
    return Resolved(entity.id, entity.access_hash, entity.username, entity.title)


async def resolve(client: TelegramClient, handle: Handle) -> Resolved:
    """One lookup: contacts.ResolveUsername for a name, channels.GetChannels for an id."""
    try:
        if handle.username:
            result = await client(functions.contacts.ResolveUsernameRequest(handle.username))
            peer = result.peer
            if isinstance(peer, types.PeerUser):
                pool, wanted = result.users, peer.user_id
            else:
                pool = result.chats
                wanted = peer.channel_id if isinstance(peer, types.PeerChannel) else peer.chat_id
            entity = next((e for e in pool if e.id == wanted), None)
            if entity is None:
                raise ResolveError("not_found", str(handle))
            return _check(entity, handle)
        assert handle.tg_id is not None
        # A bare id is only usable when this account has met the channel (access hash cached).
        try:
            peer = await client.get_input_entity(types.PeerChannel(handle.tg_id))
        except ValueError:
            raise ResolveError("unknown_id", str(handle)) from None
        if not isinstance(peer, types.InputPeerChannel):
            raise ResolveError("not_channel", str(handle))
        chats = await client(
            functions.channels.GetChannelsRequest(
                [types.InputChannel(peer.channel_id, peer.access_hash)]
            )
        )
        return _check(chats.chats[0], handle)
    except errors.FloodWaitError as exc:
        raise ResolveError("flood", str(handle), seconds=exc.seconds) from None
    except (errors.UsernameNotOccupiedError, errors.UsernameInvalidError):
        raise ResolveError("not_found", str(handle)) from None
    except (errors.ChannelPrivateError, errors.ChannelInvalidError):
        raise ResolveError("private", str(handle)) from None
