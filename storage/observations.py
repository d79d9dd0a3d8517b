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
    participants: int | None = None
    fake: bool | None = None
    scam: bool | None = None
    verified: bool | None = None
    restricted: bool | None = None
    restrictions: tuple[RestrictionSeen, ...] | None = None


@dataclass(frozen=True)
class PostSeen:
    message_id: int
    date: datetime
    text: str = ""
    media_kind: str | None = None
    grouped_id: int | None = None
    edit_date: datetime | None = None
    views: int | None = None
    forwards: int | None = None
    reactions: int | None = None


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
