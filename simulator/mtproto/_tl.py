"""Builders turning world models into real ``telethon.tl.types`` objects."""

from __future__ import annotations

import datetime as _dt
import hashlib
from typing import TYPE_CHECKING, Any

from telethon.tl import types

if TYPE_CHECKING:
    from .world import ChannelModel, Media, Post, UserModel, World

DC_ID = 2
FILE_REFERENCE = b"\x01sim"


def peer(ch: ChannelModel) -> types.PeerChannel:
    return types.PeerChannel(channel_id=ch.id)


def chat_photo(ch: ChannelModel) -> Any:
    if ch.photo_id is None:
        return types.ChatPhotoEmpty()
    return types.ChatPhoto(photo_id=ch.photo_id, dc_id=DC_ID)


def channel(world: World, ch: ChannelModel, account: str) -> Any:
    """The channel as ``account`` sees it (``ChannelForbidden`` when banned/deleted)."""
    acct = world.accounts.get(account)
    if ch.deleted or world.is_banned(ch, account):
        return types.ChannelForbidden(
            id=ch.id,
            access_hash=world.access_hash_for(ch, account),
            title=ch.title,
            broadcast=True,
        )
    joined = acct is not None and ch.id in acct.joined
    reasons = [
        types.RestrictionReason(platform=p, reason=r, text=t) for p, r, t in ch.restriction_reasons
    ]
    return types.Channel(
        id=ch.id,
        title=ch.title,
        photo=chat_photo(ch),
        date=ch.date,
        left=not joined,
        broadcast=True,
        verified=ch.verified or None,
        restricted=ch.restricted or None,
        scam=ch.scam or None,
        fake=ch.fake or None,
        access_hash=world.access_hash_for(ch, account),
        username=ch.username,
        restriction_reason=reasons or None,
    )


def min_channel(world: World, ch: ChannelModel) -> types.Channel:
    """A ``min`` constructor: title/username/photo only; flags and reasons are absent and
    the access hash is a "min" one that only works for files."""
    return types.Channel(
        id=ch.id,
        title=ch.title,
        photo=chat_photo(ch),
        date=ch.date,
        broadcast=True,
        min=True,
        access_hash=world.min_access_hash(ch),
        username=ch.username,
    )


def user(u: UserModel, *, is_self: bool = False) -> types.User:
    return types.User(
        id=u.id,
        is_self=is_self or None,
        bot=u.bot or None,
        access_hash=u.access_hash,
        first_name=u.first_name,
        username=u.username,
        phone=u.phone if is_self else None,
        status=None if u.bot else types.UserStatusRecently(),
        bot_info_version=1 if u.bot else None,
    )


def photo(media_id: int, access_hash: int, date: _dt.datetime, w: int, h: int, size: int):
    return types.Photo(
        id=media_id,
        access_hash=access_hash,
        file_reference=FILE_REFERENCE,
        date=date,
        sizes=[
            types.PhotoSize(type="m", w=w // 2, h=h // 2, size=max(1, size // 4)),
            types.PhotoSize(type="x", w=w, h=h, size=size),
        ],
        dc_id=DC_ID,
    )


def media(m: Media | None) -> Any:
    if m is None:
        return None
    if m.kind == "photo":
        return types.MessageMediaPhoto(photo=photo(m.id, m.access_hash, m.date, m.w, m.h, m.size))
    attributes: list[Any] = []
    if m.kind == "video":
        attributes.append(
            types.DocumentAttributeVideo(duration=m.duration, w=m.w, h=m.h, supports_streaming=True)
        )
    if m.file_name:
        attributes.append(types.DocumentAttributeFilename(file_name=m.file_name))
    document = types.Document(
        id=m.id,
        access_hash=m.access_hash,
        file_reference=FILE_REFERENCE,
        date=m.date,
        mime_type=m.mime_type,
        size=m.size,
        dc_id=DC_ID,
        attributes=attributes,
    )
    return types.MessageMediaDocument(document=document, video=(m.kind == "video") or None)


def file_bytes(m: Media, size: int | None = None) -> bytes:
    """Deterministic content for a media file (what upload.getFile serves)."""
    total = m.size if size is None else size
    out = bytearray()
    block = hashlib.sha256(f"{m.id}".encode()).digest()
    while len(out) < total:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:total])


def reactions(post: Post) -> Any:
    if not post.reactions:
        return None
    return types.MessageReactions(
        results=[
            types.ReactionCount(reaction=types.ReactionEmoji(emoticon=e), count=c)
            for e, c in post.reactions.items()
        ],
        can_see_list=False,
    )


def message(ch: ChannelModel, post: Post) -> Any:
    if post.action is not None:
        kind, title = post.action
        action: Any
        if kind == "channel_create":
            action = types.MessageActionChannelCreate(title=title)
        else:
            action = types.MessageActionChatEditTitle(title=title)
        return types.MessageService(
            id=post.id, peer_id=peer(ch), date=post.date, action=action, post=True
        )
    return types.Message(
        id=post.id,
        peer_id=peer(ch),
        date=post.date,
        message=post.text,
        post=True,
        media=media(post.media),
        views=post.views,
        forwards=post.forwards,
        edit_date=post.edit_date,
        grouped_id=post.grouped_id,
        reactions=reactions(post),
    )


def message_empty(ch: ChannelModel, msg_id: int) -> Any:
    return types.MessageEmpty(id=msg_id, peer_id=peer(ch))


def channel_full(world: World, ch: ChannelModel, account: str) -> types.messages.ChatFull:
    full_photo: Any = types.PhotoEmpty(id=0)
    if ch.photo_id is not None:
        full_photo = photo(
            ch.photo_id, world._hash64("photo", ch.photo_id), ch.date, 640, 640, 4096
        )
    full = types.ChannelFull(
        id=ch.id,
        about=ch.about,
        read_inbox_max_id=ch.top_message_id,
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=full_photo,
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=ch.pts,
        participants_count=ch.participants_count,
        can_view_participants=False,
        available_reactions=types.ChatReactionsAll(),
    )
    return types.messages.ChatFull(full_chat=full, chats=[channel(world, ch, account)], users=[])
