"""Telethon objects to observations; the only place that reads Telegram's shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telethon.tl import types

from storage.observations import (
    ChannelSeen,
    EntitySeen,
    ForwardSeen,
    LinkPreviewSeen,
    LocationSeen,
    MediaSeen,
    MetricsSeen,
    PollSeen,
    PostSeen,
    RestrictionSeen,
)


def channel_seen(
    chat: types.Channel, full: types.ChannelFull | None = None, *, now: datetime | None = None
) -> ChannelSeen:
    now = now or datetime.now(UTC)
    is_min = bool(getattr(chat, "min", False))
    username = chat.username
    if username is None and chat.usernames:
        active = [u.username for u in chat.usernames if u.active]
        username = active[0] if active else None
    reasons = tuple(
        RestrictionSeen(r.platform, r.reason, r.text) for r in (chat.restriction_reason or ())
    )
    return ChannelSeen(
        tg_id=chat.id,
        observed_at=now,
        is_min=is_min,
        access_hash=None if is_min else chat.access_hash,
        title=chat.title,
        username=username,
        username_known=not is_min,
        about=full.about if full is not None else None,
        photo_id=getattr(chat.photo, "photo_id", None) if chat.photo else None,
        photo_known=not is_min,
        participants=(
            full.participants_count
            if full is not None and full.participants_count is not None
            else chat.participants_count
        ),
        fake=None if is_min else bool(chat.fake),
        scam=None if is_min else bool(chat.scam),
        verified=None if is_min else bool(chat.verified),
        restricted=None if is_min else bool(chat.restricted),
        restrictions=None if is_min else reasons,
    )


_PLACES = (types.MessageMediaGeo, types.MessageMediaGeoLive, types.MessageMediaVenue)


def media_kind(message: types.Message) -> str | None:
    media = message.media
    if media is None or isinstance(media, types.MessageMediaWebPage):
        return None
    if isinstance(media, types.MessageMediaPhoto):
        return "photo"
    if isinstance(media, types.MessageMediaDocument):
        doc = media.document
        for attr in getattr(doc, "attributes", None) or ():
            if isinstance(attr, types.DocumentAttributeVideo):
                return "round" if attr.round_message else "video"
            if isinstance(attr, types.DocumentAttributeAudio):
                return "voice" if attr.voice else "audio"
            if isinstance(attr, types.DocumentAttributeSticker):
                return "sticker"
            if isinstance(attr, types.DocumentAttributeAnimated):
                return "gif"
        return "document"
    if isinstance(media, types.MessageMediaPoll):
        return "poll"
    if isinstance(media, _PLACES):
        return "location"
    return type(media).__name__.removeprefix("MessageMedia").lower()


def reactions_total(message: types.Message) -> int | None:
    reactions = getattr(message, "reactions", None)
    if reactions is None:
        return None
    total: int = sum(r.count for r in reactions.results or ())
    return total


def entities_seen(message: types.Message) -> tuple[EntitySeen, ...]:
    out = []
    for e in message.entities or ():
        out.append(
            EntitySeen(
                # MessageEntityTextUrl -> "texturl": Telegram's own name, lower-case.
                kind=type(e).__name__.removeprefix("MessageEntity").lower(),
                offset=e.offset,
                length=e.length,
                url=getattr(e, "url", None),
                user_id=getattr(e, "user_id", None),
                language=getattr(e, "language", None),
                custom_emoji_id=getattr(e, "document_id", None),
            )
        )
    return tuple(out)


def _largest(sizes: list[object] | None) -> tuple[int | None, int | None, int | None]:
    """(width, height, bytes) of a photo's largest size."""
    best: tuple[int | None, int | None, int | None] = (None, None, None)
    for size in sizes or ():
        w, h = getattr(size, "w", None), getattr(size, "h", None)
        weight = getattr(size, "size", None)
        # A progressive JPEG lists the byte size after each pass; the last pass is the file.
        passes = getattr(size, "sizes", None)
        if weight is None and passes:
            weight = max(passes)
        if w is not None and (best[0] is None or w * (h or 0) > best[0] * (best[1] or 0)):
            best = (w, h, weight)
    return best


def media_seen(message: types.Message) -> MediaSeen | None:
    """The media descriptor: Telegram's id, type, size, duration, dimensions, file name."""
    kind = media_kind(message)
    media = message.media
    if kind is None:
        return None
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        w, h, weight = _largest(media.photo.sizes)
        return MediaSeen(kind, media.photo.id, "image/jpeg", weight, width=w, height=h)
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        doc = media.document
        fields: dict[str, Any] = {}
        for attr in doc.attributes or ():
            if isinstance(attr, types.DocumentAttributeVideo | types.DocumentAttributeAudio):
                fields["duration"] = float(attr.duration)
            if isinstance(attr, types.DocumentAttributeVideo | types.DocumentAttributeImageSize):
                fields["width"], fields["height"] = attr.w, attr.h
            if isinstance(attr, types.DocumentAttributeFilename):
                fields["file_name"] = attr.file_name
        return MediaSeen(kind, doc.id, doc.mime_type, doc.size, **fields)
    return MediaSeen(kind)


def forward_seen(message: types.Message) -> ForwardSeen | None:
    fwd = message.fwd_from
    if fwd is None:
        return None
    source = fwd.from_id
    return ForwardSeen(
        from_channel_id=source.channel_id if isinstance(source, types.PeerChannel) else None,
        from_user_id=source.user_id if isinstance(source, types.PeerUser) else None,
        from_name=fwd.from_name or fwd.post_author,
        message_id=fwd.channel_post,
        date=fwd.date,
    )


def _text_of(value: object) -> str:
    # Polls carry TextWithEntities since layer 178, plain strings before.
    return str(getattr(value, "text", value) or "")


def poll_seen(message: types.Message) -> PollSeen | None:
    media = message.media
    if not isinstance(media, types.MessageMediaPoll):
        return None
    poll = media.poll
    return PollSeen(
        question=_text_of(poll.question),
        options=tuple(_text_of(a.text) for a in poll.answers or ()),
        closed=bool(poll.closed),
        quiz=bool(poll.quiz),
    )


def location_seen(message: types.Message) -> LocationSeen | None:
    media = message.media
    if not isinstance(media, _PLACES) or not isinstance(media.geo, types.GeoPoint):
        return None
    return LocationSeen(
        lat=media.geo.lat,
        lon=media.geo.long,
        title=getattr(media, "title", None),
        address=getattr(media, "address", None),
    )


def link_preview_seen(message: types.Message) -> LinkPreviewSeen | None:
    media = message.media
    if not isinstance(media, types.MessageMediaWebPage):
        return None
    page = media.webpage
    url = getattr(page, "url", None)
    if not url:
        return None  # a preview Telegram has not built yet
    return LinkPreviewSeen(
        url=url,
        title=getattr(page, "title", None),
        site_name=getattr(page, "site_name", None),
        description=getattr(page, "description", None),
    )


def post_seen(message: types.Message) -> PostSeen:
    reply = message.reply_to
    return PostSeen(
        message_id=message.id,
        date=message.date,
        text=message.message or "",
        media_kind=media_kind(message),
        grouped_id=message.grouped_id,
        edit_date=message.edit_date,
        views=message.views,
        forwards=message.forwards,
        reactions=reactions_total(message),
        entities=entities_seen(message),
        media=media_seen(message),
        forward=forward_seen(message),
        reply_to=getattr(reply, "reply_to_msg_id", None),
        author=message.post_author,
        link_preview=link_preview_seen(message),
        poll=poll_seen(message),
        location=location_seen(message),
    )


def metrics_seen(message: types.Message) -> MetricsSeen:
    return MetricsSeen(message.id, message.views, message.forwards, reactions_total(message))


def is_post(message: object) -> bool:
    """A channel post worth archiving (not a service message or an empty slot)."""
    return isinstance(message, types.Message)
