"""What a post showed beyond its text, as stored with every version, and how two versions differ.

A post's `details` is a JSON dict with the parts a collector saw: `entities`, `media`,
`forward`, `reply_to`, `author`, `link_preview`, `poll`, `location`. A part the source did
not show is left out. A partial sighting (the web preview) shows only some parts: what
it does not show is unknown, so it never reads as removed and never replaces what a
fuller source stored.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from storage.observations import MediaSeen, PostSeen

PARTS = ("entities", "media", "forward", "reply_to", "author", "link_preview", "poll", "location")

# How an edit is described; `post.edited` carries the list, the alert words each.
TEXT = "text"
FORMATTING = "formatting"
LINKS = "links"
MEDIA_ADDED = "media_added"
MEDIA_REMOVED = "media_removed"
MEDIA_REPLACED = "media_replaced"
POLL = "poll"
# The web preview marked the post edited but shows no difference: media or formatting it
# does not show changed.
UNSEEN = "unseen"
EDITS = (TEXT, FORMATTING, LINKS, MEDIA_ADDED, MEDIA_REMOVED, MEDIA_REPLACED, POLL, UNSEEN)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def details_of_media(media: MediaSeen) -> dict[str, Any]:
    return dict(_plain(asdict(media)))


def details(seen: PostSeen) -> dict[str, Any]:
    """The JSON form of everything `seen` shows beyond its text."""
    out: dict[str, Any] = {"partial": True} if seen.partial else {}
    for name in PARTS:
        value = getattr(seen, name)
        if value is None:
            continue
        if name == "entities":
            out[name] = [_plain(asdict(e)) for e in value]
        elif isinstance(value, int | str):
            out[name] = value
        else:
            out[name] = _plain(asdict(value))
    return out


def merged(stored: dict[str, Any], stored_text: str, seen: PostSeen) -> dict[str, Any]:
    """The post's details after this sighting.

    A full sighting is the truth. A partial one keeps the fuller stored parts and replaces
    a part only where it shows a change: new text (its entities move with it), another
    link target, another kind of media, another poll.
    """
    fresh = details(seen)
    if not seen.partial:
        return fresh
    out = dict(stored)
    for name, value in fresh.items():
        if name == "partial":
            continue
        old = stored.get(name)
        if old is None:
            out[name] = value
        elif name == "entities":
            if seen.text != stored_text or link_targets(old) != link_targets(value):
                out[name] = value
        elif name == "media":
            if old.get("kind") != value.get("kind"):
                out[name] = value
        elif name == "poll" and old != value:
            out[name] = value
    return out


def link_targets(entities: list[dict[str, Any]] | None) -> list[str]:
    """The hidden targets of text links, in order (plain URLs are in the text itself)."""
    return [str(e.get("url")) for e in entities or () if e.get("kind") == "texturl"]


def _formatting(entities: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    return sorted(
        (e.get("kind"), e.get("offset"), e.get("length"), e.get("language"))
        for e in entities or ()
        if e.get("kind") != "texturl"
    )


def _same_media(old: dict[str, Any], new: dict[str, Any]) -> bool:
    if old.get("kind") != new.get("kind"):
        return False
    # The preview shows no media ids: where one side has none, the kind must do.
    a, b = old.get("tg_id"), new.get("tg_id")
    return a is None or b is None or a == b


def changes(
    before_text: str, before: dict[str, Any], after_text: str, after: dict[str, Any]
) -> list[str]:
    """What an edit changed, in a fixed order; empty when the two versions show the same.

    Where either side came from a partial source, formatting is not compared: the preview
    does not show all of it, so a difference there is the source's, not the post's.
    """
    partial = bool(before.get("partial") or after.get("partial"))
    found: list[str] = []
    if before_text != after_text:
        found.append(TEXT)
    if link_targets(before.get("entities")) != link_targets(after.get("entities")):
        found.append(LINKS)
    elif (
        TEXT not in found
        and not partial
        and _formatting(before.get("entities")) != _formatting(after.get("entities"))
    ):
        found.append(FORMATTING)
    old, new = before.get("media"), after.get("media")
    if old is None and new is not None:
        found.append(MEDIA_ADDED)
    elif old is not None and new is None:
        found.append(MEDIA_REMOVED)
    elif old is not None and new is not None and not _same_media(old, new):
        found.append(MEDIA_REPLACED)
    if before.get("poll") != after.get("poll"):
        found.append(POLL)
    return found
