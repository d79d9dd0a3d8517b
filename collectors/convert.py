"""Telethon objects to observations; the only place that reads Telegram's shapes."""

from __future__ import annotations

from datetime import UTC, datetime

from telethon.tl import types

from storage.observations import ChannelSeen, MetricsSeen, PostSeen, RestrictionSeen


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
    return sum(r.count for r in reactions.results or ())


def post_seen(message: types.Message) -> PostSeen:
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
    )


def metrics_seen(message: types.Message) -> MetricsSeen:
    return MetricsSeen(message.id, message.views, message.forwards, reactions_total(message))


def is_post(message: object) -> bool:
    """A channel post worth archiving (not a service message or an empty slot)."""
    return isinstance(message, types.Message)
