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
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.i18n import Translator
from bot.textsplit import MESSAGE_LIMIT, split_html, split_text, truncate, visible_len
from bot.worddiff import diff_html

__all__ = [
    "EXCERPT_LEN",
    "ChannelRef",
    "EventView",
    "channel_link",
    "channel_url",
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


@dataclass(frozen=True)
class EventView:
    kind: str
    payload: dict
    channel: ChannelRef
    occurred_at: datetime


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: object, default: int = 0) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return default


def _float(value: object, default: float = 0.0) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default


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


def _display_title(channel: ChannelRef) -> str:
    title = channel.title or ""
    if not title.strip():
        title = f"@{channel.username}" if channel.username else f"#{channel.tg_id}"
    return truncate(title, TITLE_MAX)


def channel_link(channel: ChannelRef) -> str:
    """The channel's escaped title, linked to ``t.me/<username>`` or else in bold."""
    name = _esc(_display_title(channel))
    url = channel_url(channel)
    if url is None:
        return f"<b>{name}</b>"
    return f'<a href="{_esc(url)}">{name}</a>'


def _link(url: str, text_html: str) -> str:
    return f'<a href="{_esc(url)}">{text_html}</a>'


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


def _parse_dt(value: object) -> datetime | None:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


# --------------------------------------------------------------------------- assembly


class _Ctx:
    def __init__(self, t: Translator, lang: str, ev: EventView) -> None:
        self.t = t
        self.lang = lang if lang in t.languages else t.default
        self.ev = ev
        self.p: Mapping[str, Any] = ev.payload or {}
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
    whole = head_html + "\n" + _quote(_esc(text))
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
        body = _quote(_esc(chunk))
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
        body = _esc(ctx.get("common-empty"))
    else:
        body = diff_html(before, after, max_len=budget)
    return _fit([*head, _quote(body), *tail])


# --------------------------------------------------------------------------- event kinds


def _post_link(ctx: _Ctx, key: str = "post-link") -> str:
    message_id = _int(ctx.p.get("message_id"))
    url = post_url(ctx.ev.channel, message_id)
    return _link(url, _esc(ctx.get(key, id=str(message_id))))


def _media_line(ctx: _Ctx) -> str:
    kind = ctx.p.get("media_kind")
    album_size = int(_clamp(_int(ctx.p.get("album_size"), 0), 0, _MAX_COUNT))
    if album_size > 1:
        return _esc(ctx.get("media-album", count=album_size))
    if kind:
        return _esc(ctx.get("media", kind=_esc(truncate(_text(kind), SHORT_MAX))))
    return ""


def _post_new(ctx: _Ctx) -> list[str]:
    text = _text(ctx.p.get("text"))
    lines = [ctx.get("ev-post-new", channel=ctx.channel)]
    if text.strip():
        lines.append(_quote(_esc(truncate(text, EXCERPT_LEN))))
    lines.append(_media_line(ctx))
    lines.append(_post_link(ctx))
    return _fit(lines)


def _post_edited(ctx: _Ctx) -> list[str]:
    before, after = _text(ctx.p.get("before")), _text(ctx.p.get("after"))
    head = [ctx.get("ev-post-edited", channel=ctx.channel)]
    edited = _parse_dt(ctx.p.get("edit_date"))
    if edited is not None:
        head.append(_esc(ctx.get("ev-post-edited-at", date=edited)))
    tail = [_post_link(ctx)]
    if before == after:
        head.append(_esc(ctx.get("ev-post-edited-same-text")))
        if after.strip():
            head.append(_quote(_esc(truncate(after, EXCERPT_LEN))))
        return _fit(head + tail)
    return _with_diff(ctx, head, before, after, tail)


def _post_deleted(ctx: _Ctx) -> list[str]:
    text = _text(ctx.p.get("text"))
    head = [ctx.get("ev-post-deleted", channel=ctx.channel)]
    count = int(_clamp(_int(ctx.p.get("count"), 0), 0, _MAX_COUNT))
    if ctx.p.get("mass") and count > 1:
        head.append(_esc(ctx.get("ev-post-deleted-mass", count=count)))
    published = _parse_dt(ctx.p.get("date"))
    if published is not None:
        head.append(_esc(ctx.get("ev-post-deleted-date", date=published)))
    head.append(_post_link(ctx, "post-link-deleted"))
    if not text.strip():
        head.append(_esc(ctx.get("ev-post-deleted-no-text")))
        return _fit(head)
    head.append(_esc(ctx.get("ev-post-deleted-archived")))
    return _with_long_quote(ctx, head, text)


def _label(ctx: _Ctx, added: bool) -> list[str]:
    label = _text(ctx.p.get("label"))
    notice = _text(ctx.p.get("text"))
    if label == "restricted" or label.startswith("restricted:"):
        platform, reason = _parse_restricted(label)
        key = "ev-label-restricted-added" if added else "ev-label-restricted-removed"
        line = ctx.get(
            key,
            channel=ctx.channel,
            platform=_esc(platform),
            reason=_esc(reason),
        )
    else:
        key = "ev-label-added" if added else "ev-label-removed"
        name = _esc(truncate(label_name(ctx.t, ctx.lang, label), SHORT_MAX))
        selector = label if label in ("fake", "scam", "verified") else "other"
        line = ctx.get(key, label=selector, name=name, channel=ctx.channel)
    head = [line]
    if notice.strip():
        head.append(_esc(ctx.get("ev-label-restriction-text")))
        return _with_long_quote(ctx, head, notice)
    return _fit(head)


def _label_added(ctx: _Ctx) -> list[str]:
    return _label(ctx, added=True)


def _label_removed(ctx: _Ctx) -> list[str]:
    return _label(ctx, added=False)


def _renamed(ctx: _Ctx) -> list[str]:
    before = _esc(truncate(_text(ctx.p.get("before")), TITLE_MAX))
    after = _esc(truncate(_text(ctx.p.get("after")), TITLE_MAX))
    return _fit(
        [
            ctx.get("ev-channel-renamed", before=before, after=after),
            ctx.get("ev-channel-renamed-link", channel=ctx.channel),
        ]
    )


def _username_changed(ctx: _Ctx) -> list[str]:
    before = _text(ctx.p.get("before")).lstrip("@")
    after = _text(ctx.p.get("after")).lstrip("@")
    b = _esc(truncate(before, USERNAME_MAX))
    a = _esc(truncate(after, USERNAME_MAX))
    if before and after:
        line = ctx.get("ev-channel-username-changed", channel=ctx.channel, before=b, after=a)
    elif after:
        line = ctx.get("ev-channel-username-set", channel=ctx.channel, after=a)
    else:
        line = ctx.get("ev-channel-username-removed", channel=ctx.channel, before=b)
    return _fit([line])


def _about_changed(ctx: _Ctx) -> list[str]:
    before, after = _text(ctx.p.get("before")), _text(ctx.p.get("after"))
    head = [ctx.get("ev-channel-about-changed", channel=ctx.channel)]
    return _with_diff(ctx, head, before, after, [])


def _unavailable(ctx: _Ctx) -> list[str]:
    reason = truncate(_text(ctx.p.get("reason")) or "unknown", SHORT_MAX)
    detail = _text(ctx.p.get("detail"))
    lines = [ctx.get("ev-channel-unavailable", reason=_esc(reason), channel=ctx.channel)]
    if detail.strip():
        lines.append(f"<i>{_esc(truncate(detail, DETAIL_MAX))}</i>")
    lines.append(_esc(ctx.get("ev-channel-unavailable-archive")))
    return _fit(lines)


def _available(ctx: _Ctx) -> list[str]:
    return _fit([ctx.get("ev-channel-available", channel=ctx.channel)])


def _preview_withheld(ctx: _Ctx) -> list[str]:
    lines = [ctx.get("ev-channel-preview-withheld", channel=ctx.channel)]
    notice = _text(ctx.p.get("text"))
    if notice.strip():
        lines.append(f"<i>{_esc(truncate(notice, DETAIL_MAX))}</i>")
    return _fit(lines)


def _preview_restored(ctx: _Ctx) -> list[str]:
    return _fit([ctx.get("ev-channel-preview-restored", channel=ctx.channel)])


def _subscribers_jump(ctx: _Ctx) -> list[str]:
    # Clamped so that nonsense from storage cannot break number formatting.
    before = int(_clamp(_int(ctx.p.get("before")), 0, _MAX_COUNT))
    after = int(_clamp(_int(ctx.p.get("after")), 0, _MAX_COUNT))
    if before > 0:
        pct = (after - before) * 100.0 / before
    else:
        pct = _float(ctx.p.get("change_pct"))
    pct = _clamp(pct if math.isfinite(pct) else 0.0, -_MAX_PCT, _MAX_PCT)
    hours = _float(ctx.p.get("window_hours"))
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


def _broadcast(ctx: _Ctx) -> list[str]:
    text = _text(ctx.p.get("text"))
    head = [_esc(ctx.get("ev-broadcast"))]
    if (ctx.ev.channel.title or "").strip() or ctx.ev.channel.username:
        head.append(ctx.get("ev-broadcast-channel", channel=ctx.channel))
    parts = ["\n".join(head)]
    if text.strip():
        parts.append(text)
    return split_html(parts, MESSAGE_LIMIT, sep="\n\n")


def _unknown(ctx: _Ctx) -> list[str]:
    return _fit(
        [ctx.get("ev-unknown", channel=ctx.channel, kind=_esc(truncate(ctx.ev.kind, SHORT_MAX)))]
    )


_RENDERERS: dict[str, Callable[[_Ctx], list[str]]] = {
    "post.new": _post_new,
    "post.edited": _post_edited,
    "post.deleted": _post_deleted,
    "channel.label_added": _label_added,
    "channel.label_removed": _label_removed,
    "channel.renamed": _renamed,
    "channel.username_changed": _username_changed,
    "channel.about_changed": _about_changed,
    "channel.unavailable": _unavailable,
    "channel.available": _available,
    "channel.subscribers_jump": _subscribers_jump,
    "channel.preview_withheld": _preview_withheld,
    "channel.preview_restored": _preview_restored,
    "broadcast": _broadcast,
}


def render_event(t: Translator, lang: str, ev: EventView) -> list[str]:
    """HTML texts (``parse_mode=HTML``) telling a subscriber about ``ev`` in ``lang``.

    Each text is at most 4096 visible UTF-16 units; most events give one text, a
    long archived text gives several.
    """
    ctx = _Ctx(t, lang, ev)
    renderer = _RENDERERS.get(ev.kind, _unknown)
    return renderer(ctx)
