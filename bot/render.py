"""Turn a stored event into the HTML texts of Telegram messages.

``render_event`` returns one or more texts for ``sendMessage`` with
``parse_mode=HTML``. Every text names the channel, post events link to the
post, and every text is at most 4096 visible UTF-16 units. Every value that comes
from a channel or from Telegram (titles, texts, usernames, reasons) is escaped
here; the Fluent catalogs only supply the wording. The single exception is the
``broadcast`` text, which a moderator wrote as HTML and which is passed through.

Long archived texts (a deleted post, a restriction notice) are split across
messages at natural boundaries, each continuation headed by the channel's name.
"""

from __future__ import annotations

import html
import itertools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.i18n import Translator
from bot.textsplit import MESSAGE_LIMIT, split_html, split_text, truncate, visible_len
from bot.worddiff import diff_html
from storage import content, kinds, payloads

if TYPE_CHECKING:
    from storage.models import Channel

log = logging.getLogger(__name__)

__all__ = [
    "EXCERPT_LEN",
    "ChannelRef",
    "EventView",
    "channel_link",
    "channel_url",
    "file_size",
    "label_name",
    "post_url",
    "render_event",
]

EXCERPT_LEN = 600
# Telegram caps titles at 128 characters; anything longer is clipped for display.
TITLE_MAX = 256
USERNAME_MAX = 64
DETAIL_MAX = 1000
# Short values substituted into catalog messages (Fluent refuses placeables over
# 2500 characters, and escaping can grow a value sixfold).
SHORT_MAX = 200
_MIN_FIRST_CHUNK = 200
_USERNAME_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_BOT_API_CHANNEL_OFFSET = 1_000_000_000_000
_MAX_COUNT = 10**12
_MAX_PCT = 10**7
_MAX_HOURS = 10**6


@dataclass(frozen=True)
class ChannelRef:
    tg_id: int
    title: str
    username: str | None

    @classmethod
    def of(cls, channel: Channel) -> ChannelRef:
        """What a message needs of a stored channel to name and link it."""
        return cls(tg_id=channel.tg_id, title=channel.title, username=channel.held_username)


@dataclass(frozen=True)
class EventView:
    kind: str
    payload: payloads.Payload
    channel: ChannelRef
    occurred_at: datetime

    @classmethod
    def of(cls, kind: str, stored: object, channel: ChannelRef, occurred_at: datetime) -> EventView:
        """A view of a stored event, its payload read with `payloads.load`."""
        return cls(kind, payloads.load(kind, stored), channel, occurred_at)


def esc(value: object) -> str:
    """Text from a channel, Telegram or a user, made safe inside Telegram HTML."""
    return html.escape(str(value), quote=True)


def _valid_username(username: str | None) -> bool:
    return bool(username) and _USERNAME_RE.fullmatch(username or "") is not None


def _internal_id(tg_id: int) -> int:
    """Channel id as used in ``t.me/c/<id>/…`` (Bot API ids carry a -100… prefix)."""
    if tg_id <= -_BOT_API_CHANNEL_OFFSET:
        return -tg_id - _BOT_API_CHANNEL_OFFSET
    return abs(tg_id)


def channel_url(channel: ChannelRef) -> str | None:
    """``https://t.me/<username>``, or None for a channel without a public username."""
    if _valid_username(channel.username):
        return f"https://t.me/{channel.username}"
    return None


def post_url(channel: ChannelRef, message_id: int) -> str:
    """Link to a post: ``t.me/<username>/<id>``, or ``t.me/c/<id>/<id>`` without username."""
    if _valid_username(channel.username):
        return f"https://t.me/{channel.username}/{int(message_id)}"
    return f"https://t.me/c/{_internal_id(channel.tg_id)}/{int(message_id)}"


def plain_title(channel: ChannelRef) -> str:
    """The channel's title, or its @username or #id when the title is blank (not escaped)."""
    if (channel.title or "").strip():
        return channel.title
    return f"@{channel.username}" if channel.username else f"#{channel.tg_id}"


def _display_title(channel: ChannelRef) -> str:
    return truncate(plain_title(channel), TITLE_MAX)


def channel_link(channel: ChannelRef) -> str:
    """The channel's escaped title, linked to ``t.me/<username>`` or else in bold."""
    name = esc(_display_title(channel))
    url = channel_url(channel)
    if url is None:
        return f"<b>{name}</b>"
    return f'<a href="{esc(url)}">{name}</a>'


def _link(url: str, text_html: str) -> str:
    return f'<a href="{esc(url)}">{text_html}</a>'


def _quote(text_html: str) -> str:
    return f"<blockquote>{text_html}</blockquote>"


def _parse_restricted(label: str) -> tuple[str, str]:
    """("android", "porn") from "restricted:android:porn"; clipped for display."""
    _, _, rest = label.partition(":")
    platform, _, reason = rest.partition(":")
    return truncate(platform or "all", SHORT_MAX), truncate(reason or "unspecified", SHORT_MAX)


def label_name(t: Translator, lang: str, label: str) -> str:
    """Human wording of a label ("fake", "restricted:android:porn"…), as **plain text**.

    Escape the result before putting it into HTML.
    """
    if label in ("fake", "scam", "verified"):
        return t.get(lang, f"label-{label}")
    if label == "restricted" or label.startswith("restricted:"):
        platform, reason = _parse_restricted(label)
        return t.get(lang, "label-restricted", platform=platform, reason=reason)
    return t.get(lang, "label-other", label=truncate(label, SHORT_MAX))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# --------------------------------------------------------------------------- assembly


class _Ctx:
    def __init__(self, t: Translator, lang: str, ev: EventView) -> None:
        self.t = t
        self.lang = lang if lang in t.languages else t.default
        self.ev = ev
        self.channel = channel_link(ev.channel)

    def get(self, key: str, **args: Any) -> str:
        return self.t.get(self.lang, key, **args)

    def continued(self, part: int, total: int) -> str:
        return self.get("common-continued", channel=self.channel, part=part, total=total)


def _fit(lines: list[str]) -> list[str]:
    """Join lines into one message, or several if (unexpectedly) too long."""
    lines = [line for line in lines if line]
    joined = "\n".join(lines)
    if visible_len(joined) <= MESSAGE_LIMIT:
        return [joined]
    return split_html(lines, MESSAGE_LIMIT)


def _with_long_quote(ctx: _Ctx, head: list[str], text: str) -> list[str]:
    """Head lines, then ``text`` (plain) quoted and split over as many messages as needed."""
    head = [line for line in head if line]
    head_html = "\n".join(head)
    whole = head_html + "\n" + _quote(esc(text))
    if visible_len(whole) <= MESSAGE_LIMIT:
        return [whole]
    reserve = visible_len(ctx.continued(99_999, 99_999)) + 1
    rest_budget = MESSAGE_LIMIT - reserve
    first_budget = MESSAGE_LIMIT - visible_len(head_html) - 1
    messages: list[str] = []
    if first_budget < _MIN_FIRST_CHUNK:
        messages.extend(_fit(head))
        chunks = split_text(text, rest_budget)
        first_is_own = False
    else:
        chunks = split_text(text, rest_budget, first_limit=first_budget)
        first_is_own = True
    total = len(chunks) + (0 if first_is_own else 1)
    for i, chunk in enumerate(chunks):
        body = _quote(esc(chunk))
        if i == 0 and first_is_own:
            messages.append(head_html + "\n" + body)
        else:
            part = i + 1 if first_is_own else i + 2
            messages.append(ctx.continued(part, total) + "\n" + body)
    return messages


def _with_diff(ctx: _Ctx, head: list[str], before: str, after: str, tail: list[str]) -> list[str]:
    head = [line for line in head if line]
    tail = [line for line in tail if line]
    frame = visible_len("\n".join(head + tail)) + 2
    budget = max(MESSAGE_LIMIT - frame, 100)
    if not before and not after:
        body = esc(ctx.get("common-empty"))
    else:
        body = diff_html(before, after, max_len=budget)
    return _fit([*head, _quote(body), *tail])


# --------------------------------------------------------------------------- event kinds


def _post_link(ctx: _Ctx, message_id: int, key: str = "post-link") -> str:
    url = post_url(ctx.ev.channel, message_id)
    return _link(url, esc(ctx.get(key, id=str(message_id))))


def _duration(seconds: float) -> str:
    total = int(_clamp(seconds if math.isfinite(seconds) else 0.0, 0, _MAX_HOURS * 3600))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def file_size(t: Translator, lang: str, size: int) -> str:
    """ "48 MB" as plain text, in the reader's language."""
    for unit, scale in (("gb", 1 << 30), ("mb", 1 << 20)):
        if size >= scale:
            return t.get(lang, "media-size", unit=unit, value=round(size / scale, 2))
    return t.get(lang, "media-size", unit="kb", value=max(1, round(size / 1024)))


def _media_name(ctx: _Ctx, info: payloads.MediaInfo | None, kind: str | None = None) -> str:
    """ "🎬 Video 9:12, 48 MB" as plain text; escape before use."""
    kind = info.kind if info is not None else kind
    if not kind:
        return ""
    name = ctx.get("media", kind=truncate(kind, SHORT_MAX))
    facts = []
    if info is not None and info.duration:
        facts.append(_duration(info.duration))
    if info is not None and info.size:
        facts.append(file_size(ctx.t, ctx.lang, int(_clamp(info.size, 0, _MAX_COUNT))))
    return f"{name} {', '.join(facts)}" if facts else name


def _media_line(ctx: _Ctx, p: payloads.PostNew) -> str:
    album_size = int(_clamp(p.album_size or 0, 0, _MAX_COUNT))
    if album_size > 1:
        return esc(ctx.get("media-album", count=album_size))
    return esc(_media_name(ctx, p.media, p.media_kind))


def _post_new(ctx: _Ctx, p: payloads.PostNew) -> list[str]:
    text = p.text or ""
    lines = [ctx.get("ev-post-new", channel=ctx.channel)]
    if p.forwarded_from:
        source = truncate(p.forwarded_from, TITLE_MAX)
        lines.append(esc(ctx.get("media-forwarded", source=source)))
    if text.strip():
        lines.append(_quote(esc(truncate(text, EXCERPT_LEN))))
    lines.append(_media_line(ctx, p))
    lines.append(_post_link(ctx, p.message_id))
    return _fit(lines)


def _post_edited(ctx: _Ctx, p: payloads.PostEdited) -> list[str]:
    before, after = (p.before or ""), (p.after or "")
    head = [ctx.get("ev-post-edited", channel=ctx.channel)]
    edited = p.edit_date
    if edited is not None:
        head.append(esc(ctx.get("ev-post-edited-at", date=edited)))
    tail = [_post_link(ctx, p.message_id)]
    if p.changes:
        what = ", ".join(_edit_name(ctx, p, change) for change in p.changes[:8])
        head.append(esc(ctx.get("ev-post-edited-what", what=truncate(what, SHORT_MAX))))
    if content.LINKS in p.changes:
        head.extend(_link_changes(ctx, p))
    if before == after:
        if not p.changes:
            head.append(esc(ctx.get("ev-post-edited-same-text")))
        if after.strip():
            head.append(_quote(esc(truncate(after, EXCERPT_LEN))))
        return _fit(head + tail)
    return _with_diff(ctx, head, before, after, tail)


def _edit_name(ctx: _Ctx, p: payloads.PostEdited, change: str) -> str:
    if change not in content.EDITS:
        return truncate(change, SHORT_MAX)
    media = p.media_after if change != content.MEDIA_REMOVED else p.media_before
    if change == content.MEDIA_REPLACED:
        media = p.media_before or p.media_after
    # The change names the kind only ("Photo replaced"); sizes belong to the post alert.
    bare = media.model_copy(update={"size": None, "duration": None}) if media else None
    return ctx.get(f"edit-{change}", media=_media_name(ctx, bare))


def _link_changes(ctx: _Ctx, p: payloads.PostEdited) -> list[str]:
    none = ctx.get("ev-post-edited-no-link")
    pairs = itertools.zip_longest(p.links_before, p.links_after)
    return [
        esc(
            ctx.get(
                "ev-post-edited-link",
                before=truncate(old or none, SHORT_MAX),
                after=truncate(new or none, SHORT_MAX),
            )
        )
        for old, new in itertools.islice(((a, b) for a, b in pairs if a != b), 5)
    ]


def _post_deleted(ctx: _Ctx, p: payloads.PostDeleted) -> list[str]:
    text = p.text or ""
    head = [ctx.get("ev-post-deleted", channel=ctx.channel)]
    count = int(_clamp(p.count, 0, _MAX_COUNT))
    if p.mass and count > 1:
        head.append(esc(ctx.get("ev-post-deleted-mass", count=count)))
    published = p.date
    if published is not None:
        head.append(esc(ctx.get("ev-post-deleted-date", date=published)))
    head.append(_post_link(ctx, p.message_id, "post-link-deleted"))
    if not text.strip():
        head.append(esc(ctx.get("ev-post-deleted-no-text")))
        return _fit(head)
    head.append(esc(ctx.get("ev-post-deleted-archived")))
    return _with_long_quote(ctx, head, text)


def _label(ctx: _Ctx, p: payloads.LabelChanged, added: bool) -> list[str]:
    label = p.label or ""
    notice = p.text or ""
    if label == "restricted" or label.startswith("restricted:"):
        platform, reason = _parse_restricted(label)
        key = "ev-label-restricted-added" if added else "ev-label-restricted-removed"
        line = ctx.get(
            key,
            channel=ctx.channel,
            platform=esc(platform),
            reason=esc(reason),
        )
    else:
        key = "ev-label-added" if added else "ev-label-removed"
        name = esc(truncate(label_name(ctx.t, ctx.lang, label), SHORT_MAX))
        selector = label if label in ("fake", "scam", "verified") else "other"
        line = ctx.get(key, label=selector, name=name, channel=ctx.channel)
    head = [line]
    if notice.strip():
        head.append(esc(ctx.get("ev-label-restriction-text")))
        return _with_long_quote(ctx, head, notice)
    return _fit(head)


def _label_added(ctx: _Ctx, p: payloads.LabelAdded) -> list[str]:
    return _label(ctx, p, added=True)


def _label_removed(ctx: _Ctx, p: payloads.LabelRemoved) -> list[str]:
    return _label(ctx, p, added=False)


def _renamed(ctx: _Ctx, p: payloads.Renamed) -> list[str]:
    before = esc(truncate((p.before or ""), TITLE_MAX))
    after = esc(truncate((p.after or ""), TITLE_MAX))
    return _fit(
        [
            ctx.get("ev-channel-renamed", before=before, after=after),
            ctx.get("ev-channel-renamed-link", channel=ctx.channel),
        ]
    )


def _username_changed(ctx: _Ctx, p: payloads.UsernameChanged) -> list[str]:
    before = (p.before or "").lstrip("@")
    after = (p.after or "").lstrip("@")
    b = esc(truncate(before, USERNAME_MAX))
    a = esc(truncate(after, USERNAME_MAX))
    if before and after:
        line = ctx.get("ev-channel-username-changed", channel=ctx.channel, before=b, after=a)
    elif after:
        line = ctx.get("ev-channel-username-set", channel=ctx.channel, after=a)
    else:
        line = ctx.get("ev-channel-username-removed", channel=ctx.channel, before=b)
    return _fit([line])


def _about_changed(ctx: _Ctx, p: payloads.AboutChanged) -> list[str]:
    before, after = (p.before or ""), (p.after or "")
    head = [ctx.get("ev-channel-about-changed", channel=ctx.channel)]
    return _with_diff(ctx, head, before, after, [])


def _photo_changed(ctx: _Ctx, p: payloads.PhotoChanged) -> list[str]:
    change = "added" if not p.before else ("removed" if not p.after else "replaced")
    return _fit([ctx.get("ev-channel-photo-changed", channel=ctx.channel, change=change)])


def _unavailable(ctx: _Ctx, p: payloads.Unavailable) -> list[str]:
    reason = truncate((p.reason or "") or "unknown", SHORT_MAX)
    detail = p.detail or ""
    lines = [ctx.get("ev-channel-unavailable", reason=esc(reason), channel=ctx.channel)]
    if detail.strip():
        lines.append(f"<i>{esc(truncate(detail, DETAIL_MAX))}</i>")
    if _valid_username(p.username) and p.username != detail:
        # Said, not linked: the name is free, and whoever takes it is not this channel.
        lines.append(esc(ctx.get("ev-channel-unavailable-name", username=p.username)))
    lines.append(esc(ctx.get("ev-channel-unavailable-archive")))
    return _fit(lines)


def _available(ctx: _Ctx, p: payloads.Available) -> list[str]:
    return _fit([ctx.get("ev-channel-available", channel=ctx.channel)])


def _preview_withheld(ctx: _Ctx, p: payloads.PreviewWithheld) -> list[str]:
    lines = [ctx.get("ev-channel-preview-withheld", channel=ctx.channel)]
    notice = p.text or ""
    if notice.strip():
        lines.append(f"<i>{esc(truncate(notice, DETAIL_MAX))}</i>")
    return _fit(lines)


def _preview_restored(ctx: _Ctx, p: payloads.PreviewRestored) -> list[str]:
    return _fit([ctx.get("ev-channel-preview-restored", channel=ctx.channel)])


def _subscribers_jump(ctx: _Ctx, p: payloads.SubscribersJump) -> list[str]:
    # Clamped so that nonsense from storage cannot break number formatting.
    before = int(_clamp(p.before, 0, _MAX_COUNT))
    after = int(_clamp(p.after, 0, _MAX_COUNT))
    if before > 0:
        pct = (after - before) * 100.0 / before
    else:
        pct = p.change_pct
    pct = _clamp(pct if math.isfinite(pct) else 0.0, -_MAX_PCT, _MAX_PCT)
    hours = p.window_hours
    hours = _clamp(hours if math.isfinite(hours) else 0.0, 0.0, _MAX_HOURS)
    direction = "down" if after < before else "up"
    sign = "−" if pct < 0 else "+"
    line = ctx.get(
        "ev-channel-subscribers-jump",
        channel=ctx.channel,
        direction=direction,
        before=before,
        after=after,
        sign=sign,
        pct=round(abs(pct), 1),
        hours=round(hours, 1),
    )
    return _fit([line])


def _broadcast(ctx: _Ctx, p: payloads.Broadcast) -> list[str]:
    text = p.text or ""
    head = [esc(ctx.get("ev-broadcast"))]
    if (ctx.ev.channel.title or "").strip() or ctx.ev.channel.username:
        head.append(ctx.get("ev-broadcast-channel", channel=ctx.channel))
    parts = ["\n".join(head)]
    if text.strip():
        parts.append(text)
    return split_html(parts, MESSAGE_LIMIT, sep="\n\n")


def _unknown(ctx: _Ctx, p: payloads.Payload) -> list[str]:
    return _fit(
        [ctx.get("ev-unknown", channel=ctx.channel, kind=esc(truncate(ctx.ev.kind, SHORT_MAX)))]
    )


_RENDERERS: dict[str, Callable[[_Ctx, Any], list[str]]] = {
    kinds.POST_NEW: _post_new,
    kinds.POST_EDITED: _post_edited,
    kinds.POST_DELETED: _post_deleted,
    kinds.LABEL_ADDED: _label_added,
    kinds.LABEL_REMOVED: _label_removed,
    kinds.RENAMED: _renamed,
    kinds.USERNAME_CHANGED: _username_changed,
    kinds.ABOUT_CHANGED: _about_changed,
    kinds.PHOTO_CHANGED: _photo_changed,
    kinds.UNAVAILABLE: _unavailable,
    kinds.AVAILABLE: _available,
    kinds.SUBSCRIBERS_JUMP: _subscribers_jump,
    kinds.PREVIEW_WITHHELD: _preview_withheld,
    kinds.PREVIEW_RESTORED: _preview_restored,
    kinds.BROADCAST: _broadcast,
}


def render_event(t: Translator, lang: str, ev: EventView) -> list[str]:
    """HTML texts (``parse_mode=HTML``) telling a subscriber about ``ev`` in ``lang``.

    Each text is at most 4096 visible UTF-16 units; most events give one text, a
    long archived text gives several.
    """
    ctx = _Ctx(t, lang, ev)
    renderer = _RENDERERS.get(ev.kind, _unknown)
    payload = ev.payload
    if payload.kind != ev.kind:
        # A view whose payload was built for another kind: read it as this kind's.
        payload = payloads.load(ev.kind, payload.dump())
    try:
        return renderer(ctx, payload)
    except Exception:  # odd data in one event must still tell the subscriber something
        log.exception("rendering a %s event failed; sending the plain notice", ev.kind)
        return _unknown(ctx, payload)
