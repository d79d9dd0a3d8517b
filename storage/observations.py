"""What a collector saw, before anyone decides whether it is news.

`None` always means "not seen this time", never "empty": a partial (`min`)
channel or a source that does not carry a field must not read as a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RestrictionSeen:
    platform: str
    reason: str
    text: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"platform": self.platform, "reason": self.reason, "text": self.text}


@dataclass(frozen=True)
class ChannelSeen:
    tg_id: int
    observed_at: datetime
    is_min: bool = False
    access_hash: int | None = None
    title: str | None = None
    # username_known separates "has no username" from "did not say".
    username: str | None = None
    username_known: bool = False
    about: str | None = None
    photo_id: int | None = None
    # photo_known separates "has no photo" from "did not say".
    photo_known: bool = False
    participants: int | None = None
    # A counter shown abbreviated ("38.2K") is a range: participants..participants_max.
    participants_max: int | None = None
    fake: bool | None = None
    scam: bool | None = None
    verified: bool | None = None
    restricted: bool | None = None
    restrictions: tuple[RestrictionSeen, ...] | None = None
    # "api" (the account) or "web" (the public preview): a web value never replaces an
    # API-given photo or exact count.
    source: str = "api"


@dataclass(frozen=True)
class EntitySeen:
    """One formatting entity; offsets and lengths in UTF-16 code units, as Telegram gives them.

    `kind` is Telegram's name without the prefix, lower-case: "bold", "texturl", "url",
    "mention", "hashtag", "spoiler", "pre", "customemoji", ... A text link's hidden target
    is only here (`url`), never in the text.
    """

    kind: str
    offset: int
    length: int
    url: str | None = None
    user_id: int | None = None
    language: str | None = None
    custom_emoji_id: int | None = None


@dataclass(frozen=True)
class MediaSeen:
    """What a post's media is, as Telegram describes it (no bytes: those are downloaded apart).

    `tg_id` is Telegram's photo or document id: the media's identity, so an edit that swaps a
    photo for another is seen even when everything else is alike.
    """

    kind: str  # photo, video, round, gif, audio, voice, sticker, document, poll, location, ...
    tg_id: int | None = None
    mime_type: str | None = None
    size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class ForwardSeen:
    """Where a forwarded post came from: the channel or user, the name shown, the original post."""

    from_channel_id: int | None = None
    from_user_id: int | None = None
    from_name: str | None = None
    message_id: int | None = None
    date: datetime | None = None


@dataclass(frozen=True)
class LinkPreviewSeen:
    url: str
    title: str | None = None
    site_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class PollSeen:
    question: str
    options: tuple[str, ...]
    closed: bool = False
    quiz: bool = False


@dataclass(frozen=True)
class LocationSeen:
    lat: float
    lon: float
    title: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class PostSeen:
    """A post as seen now. For the optional parts, `None` means the source did not show it."""

    message_id: int
    date: datetime
    text: str = ""
    media_kind: str | None = None
    grouped_id: int | None = None
    edit_date: datetime | None = None
    views: int | None = None
    forwards: int | None = None
    reactions: int | None = None
    entities: tuple[EntitySeen, ...] | None = None
    media: MediaSeen | None = None
    forward: ForwardSeen | None = None
    reply_to: int | None = None
    author: str | None = None
    link_preview: LinkPreviewSeen | None = None
    poll: PollSeen | None = None
    location: LocationSeen | None = None
    # The web preview marks an edit without its date: True there, None from the API.
    edited: bool | None = None
    # True when the source shows only part of a post (the web preview): what it leaves
    # out is unknown, not gone. A full source (the API) leaves out only what is absent.
    partial: bool = False


@dataclass(frozen=True)
class MetricsSeen:
    message_id: int
    views: int | None = None
    forwards: int | None = None
    reactions: int | None = None


@dataclass
class Recorded:
    """What one observation changed: new event ids, for routing and for tests."""

    event_ids: list[int] = field(default_factory=list)
    new_posts: int = 0

    def extend(self, other: Recorded) -> None:
        self.event_ids.extend(other.event_ids)
        self.new_posts += other.new_posts
