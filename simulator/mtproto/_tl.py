"""Builders turning world models into real ``telethon.tl.types`` objects."""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from .content import Media, Thumb, stripped, tl_entity

if TYPE_CHECKING:
    from .world import ChannelModel, Post, UserModel, World

DC_ID = 2


def peer(ch: ChannelModel) -> types.PeerChannel:
    return types.PeerChannel(channel_id=ch.id)


def chat_photo(ch: ChannelModel) -> Any:
    if ch.photo_id is None:
        return types.ChatPhotoEmpty()
    return types.ChatPhoto(
        photo_id=ch.photo_id, dc_id=DC_ID, stripped_thumb=stripped(str(ch.photo_id))
    )


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


def _size(t: Thumb) -> Any:
    if t.type == "i":
        assert t.file.data is not None
        return types.PhotoStrippedSize(type="i", bytes=t.file.data)
    return types.PhotoSize(type=t.type, w=t.w, h=t.h, size=t.file.size)


def photo(m: Media) -> types.Photo:
    """Sizes as Telegram lists them: stripped "i", "m" thumbnail, then the largest size,
    progressive (``sizes`` are the byte counts of its progressive scans, the last being
    the whole file)."""
    scans = sorted({max(1, m.size // 4), max(1, m.size // 2), m.size})
    return types.Photo(
        id=m.id,
        access_hash=m.access_hash,
        file_reference=m.file_reference,
        date=m.date,
        sizes=[
            *(_size(t) for t in m.thumbs),
            types.PhotoSizeProgressive(type=m.main_type, w=m.w, h=m.h, sizes=scans),
        ],
        dc_id=DC_ID,
    )


def _attributes(m: Media) -> list[Any]:
    attributes: list[Any] = []
    if m.kind in ("video", "round", "gif"):
        attributes.append(
            types.DocumentAttributeVideo(
                duration=m.duration,
                w=m.w,
                h=m.h,
                round_message=(m.kind == "round") or None,
                supports_streaming=(m.kind != "gif") or None,
                nosound=(m.kind == "gif") or None,
            )
        )
    if m.kind == "gif":
        attributes.append(types.DocumentAttributeAnimated())
    if m.kind in ("audio", "voice"):
        attributes.append(
            types.DocumentAttributeAudio(
                duration=int(m.duration),
                voice=(m.kind == "voice") or None,
                title=m.title,
                performer=m.performer,
                waveform=b"\x00\x11\x22\x33" if m.kind == "voice" else None,
            )
        )
    if m.kind == "sticker":
        attributes.append(types.DocumentAttributeImageSize(w=m.w, h=m.h))
        attributes.append(
            types.DocumentAttributeSticker(
                alt=m.emoji or "", stickerset=types.InputStickerSetEmpty()
            )
        )
    if m.file_name:
        attributes.append(types.DocumentAttributeFilename(file_name=m.file_name))
    return attributes


def document(m: Media) -> types.Document:
    return types.Document(
        id=m.id,
        access_hash=m.access_hash,
        file_reference=m.file_reference,
        date=m.date,
        mime_type=m.mime_type,
        size=m.size,
        dc_id=DC_ID,
        attributes=_attributes(m),
        thumbs=[_size(t) for t in m.thumbs] or None,
    )


def media(m: Media | None) -> Any:
    if m is None:
        return None
    if m.is_photo:
        return types.MessageMediaPhoto(photo=photo(m))
    return types.MessageMediaDocument(
        document=document(m),
        video=(m.kind in ("video", "round")) or None,
        round=(m.kind == "round") or None,
        voice=(m.kind == "voice") or None,
    )


def _text(value: str) -> types.TextWithEntities:
    return types.TextWithEntities(text=value, entities=[])


def _hash32(*parts: Any) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def _hash64(*parts: Any) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True) or 1


def webpage(spec: dict[str, Any]) -> types.MessageMediaWebPage:
    url = spec["url"]
    return types.MessageMediaWebPage(
        webpage=types.WebPage(
            id=_hash64("webpage", url),
            url=url,
            display_url=url.split("://", 1)[-1].rstrip("/"),
            hash=_hash32("webpage", url, spec.get("title"), spec.get("description")),
            type=spec.get("type"),
            site_name=spec.get("site_name"),
            title=spec.get("title"),
            description=spec.get("description"),
        )
    )


def poll(ch: ChannelModel, post: Post, spec: dict[str, Any]) -> types.MessageMediaPoll:
    options = [str(i).encode() for i in range(len(spec["answers"]))]
    return types.MessageMediaPoll(
        poll=types.Poll(
            id=_hash64("poll", ch.id, post.id),
            question=_text(spec["question"]),
            answers=[
                types.PollAnswer(text=_text(a), option=o)
                for a, o in zip(spec["answers"], options, strict=True)
            ],
            hash=0,
            closed=spec["closed"] or None,
            multiple_choice=spec["multiple_choice"] or None,
            quiz=spec["quiz"] or None,
        ),
        results=types.PollResults(
            results=[
                types.PollAnswerVoters(option=o, voters=v, recent_voters=[])
                for o, v in zip(options, spec["votes"], strict=True)
            ],
            total_voters=sum(spec["votes"]),
        ),
    )


def geo(spec: dict[str, Any]) -> Any:
    point = types.GeoPoint(
        long=spec["long"], lat=spec["lat"], access_hash=_hash64("geo", spec["lat"], spec["long"])
    )
    venue = spec.get("venue")
    if venue is None:
        return types.MessageMediaGeo(geo=point)
    return types.MessageMediaVenue(geo=point, **venue)


def message_media(ch: ChannelModel, post: Post) -> Any:
    if post.webpage is not None:
        return webpage(post.webpage)
    if post.poll is not None:
        return poll(ch, post, post.poll)
    if post.geo is not None:
        return geo(post.geo)
    return media(post.media)


def fwd_header(spec: dict[str, Any] | None) -> types.MessageFwdHeader | None:
    if spec is None:
        return None
    from_id: Any = None
    if "channel_id" in spec:
        from_id = types.PeerChannel(channel_id=spec["channel_id"])
    elif "user_id" in spec:
        from_id = types.PeerUser(user_id=spec["user_id"])
    return types.MessageFwdHeader(
        date=_dt.datetime.fromisoformat(spec["date"]),
        from_id=from_id,
        from_name=spec.get("from_name"),
        channel_post=spec.get("channel_post"),
        post_author=spec.get("post_author"),
    )


def related(
    world: World, posts: Iterable[Post], account: str, exclude: int
) -> tuple[list[Any], list[Any]]:
    """Chats and users a result must carry besides the channel: forward sources."""
    chats: dict[int, Any] = {}
    users: dict[int, Any] = {}
    for post in posts:
        fwd = post.forward or {}
        source = world.channels.get(fwd.get("channel_id", exclude))
        if source is not None and source.id != exclude and source.id not in chats:
            chats[source.id] = channel(world, source, account)
        user_id = fwd.get("user_id")
        if user_id in world.users and user_id not in users:
            users[user_id] = user(world.users[user_id])
    return list(chats.values()), list(users.values())


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
        elif kind == "edit_photo" and post.media is not None:
            action = types.MessageActionChatEditPhoto(photo=photo(post.media))
        elif kind == "delete_photo":
            action = types.MessageActionChatDeletePhoto()
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
        media=message_media(ch, post),
        entities=[tl_entity(e) for e in post.entities] or None,
        fwd_from=fwd_header(post.forward),
        reply_to=(
            types.MessageReplyHeader(reply_to_msg_id=post.reply_to)
            if post.reply_to is not None
            else None
        ),
        post_author=post.author,
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
    avatar = world.media.get(ch.photo_id) if ch.photo_id is not None else None
    if avatar is not None:
        full_photo = photo(avatar)
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
