"""What each event kind carries: one model per kind, used by every writer and every reader.

Change detection builds these; routing, alerts, digests and exports read them back with
`load`, which is tolerant of rows stored by older versions or damaged by hand: a field
that is missing or of the wrong type takes its default instead of failing the whole
event, so one odd row never sinks an alert or a digest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from storage import kinds


class Payload(BaseModel):
    """The common shape; `kind` names the event kind a model belongs to."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: ClassVar[str] = ""

    def dump(self) -> dict[str, Any]:
        """JSON-ready dict, as stored in `events.payload`."""
        return self.model_dump(mode="json")

    def words(self) -> str:
        """Text that keyword filters look at."""
        return ""


class MediaInfo(BaseModel):
    """What an alert says of a post's media: "🎬 Video 9:12, 48 MB"."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: str = "document"
    size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    file_name: str | None = None
    mime_type: str | None = None


class PostNew(Payload):
    kind: ClassVar[str] = kinds.POST_NEW
    message_id: int = 0
    text: str = ""
    media_kind: str | None = None
    grouped_id: int | None = None
    album_size: int | None = None
    media: MediaInfo | None = None
    forwarded_from: str | None = None

    def words(self) -> str:
        return self.text


class PostEdited(Payload):
    """An edit; `changes` names what changed (storage.content), empty in rows from before
    it was recorded, which changed only text."""

    kind: ClassVar[str] = kinds.POST_EDITED
    message_id: int = 0
    before: str = ""
    after: str = ""
    edit_date: datetime | None = None
    changes: list[str] = []
    links_before: list[str] = []
    links_after: list[str] = []
    media_before: MediaInfo | None = None
    media_after: MediaInfo | None = None

    def words(self) -> str:
        return f"{self.before} {self.after}"


class PostDeleted(Payload):
    kind: ClassVar[str] = kinds.POST_DELETED
    message_id: int = 0
    text: str = ""
    date: datetime | None = None
    mass: bool = False
    count: int = 1
    media: MediaInfo | None = None
    album_size: int | None = None

    def words(self) -> str:
        return self.text


class LabelChanged(Payload):
    """A label added or removed; `text` is the restriction notice Telegram shows, if any."""

    label: str = ""
    text: str | None = None


class LabelAdded(LabelChanged):
    kind: ClassVar[str] = kinds.LABEL_ADDED


class LabelRemoved(LabelChanged):
    kind: ClassVar[str] = kinds.LABEL_REMOVED


class TextChanged(Payload):
    before: str | None = None
    after: str | None = None


class Renamed(TextChanged):
    kind: ClassVar[str] = kinds.RENAMED


class UsernameChanged(TextChanged):
    kind: ClassVar[str] = kinds.USERNAME_CHANGED


class AboutChanged(TextChanged):
    kind: ClassVar[str] = kinds.ABOUT_CHANGED


class PhotoChanged(Payload):
    """Telegram's photo ids of the old and new avatar (None: the channel had none / has none)."""

    kind: ClassVar[str] = kinds.PHOTO_CHANGED
    before: int | None = None
    after: int | None = None


class Unavailable(Payload):
    """`reason`: private, banned, deleted, username_released, or private_or_deleted where
    Telegram gives both the same answer (CHANNEL_PRIVATE to a non-member). `answer`: what
    Telegram said, the reason's evidence; `username`: the public name it held and lost with
    it (it may lead to another channel now). Both None in rows from before they were kept."""

    kind: ClassVar[str] = kinds.UNAVAILABLE
    reason: str = "unknown"
    detail: str | None = None
    answer: str | None = None
    username: str | None = None


class Available(Payload):
    kind: ClassVar[str] = kinds.AVAILABLE
    unavailable_hours: float | None = None


class SubscribersJump(Payload):
    """`approximate`: a count read from the web preview's rounded counter ("38.2K"), where
    before and after are the closest readings the ranges allow."""

    kind: ClassVar[str] = kinds.SUBSCRIBERS_JUMP
    before: int = 0
    after: int = 0
    change_pct: float = 0.0
    window_hours: float = 0.0
    approximate: bool = False


class PreviewWithheld(Payload):
    """Telegram stopped showing the channel's public web preview; `text` is its notice."""

    kind: ClassVar[str] = kinds.PREVIEW_WITHHELD
    text: str | None = None


class PreviewRestored(Payload):
    kind: ClassVar[str] = kinds.PREVIEW_RESTORED


class Broadcast(Payload):
    """Not a channel event: a moderator's message to everyone, rendered like one."""

    kind: ClassVar[str] = kinds.BROADCAST
    text: str = ""


class Unknown(Payload):
    """A kind this version does not know (a row from a newer version)."""

    model_config = ConfigDict(frozen=True, extra="allow")


MODELS: dict[str, type[Payload]] = {
    model.kind: model
    for model in (
        PostNew,
        PostEdited,
        PostDeleted,
        LabelAdded,
        LabelRemoved,
        Renamed,
        UsernameChanged,
        AboutChanged,
        PhotoChanged,
        Unavailable,
        Available,
        SubscribersJump,
        PreviewWithheld,
        PreviewRestored,
        Broadcast,
    )
}


def load(kind: str, data: object) -> Payload:
    """The payload of a stored event; fields that do not fit take their defaults."""
    model = MODELS.get(kind, Unknown)
    raw = data if isinstance(data, dict) else {}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        bad = {err["loc"][0] for err in exc.errors() if err["loc"]}
        return model.model_validate({k: v for k, v in raw.items() if k not in bad})
