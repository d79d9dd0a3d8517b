"""t.me web-preview pages to observations; the only place that reads the preview's markup.

Parsed with selectolax's Lexbor backend (BENCHMARKS.md says why). Whatever a page does
not show is `None` in the observations: the preview has no FAKE/SCAM flags, no
restriction reasons, no exact edit dates, no forward or reaction counts worth trusting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from storage.observations import (
    ChannelSeen,
    EntitySeen,
    ForwardSeen,
    LinkPreviewSeen,
    MediaSeen,
    PostSeen,
)

PageKind = Literal["posts", "withheld", "not_found", "unknown"]

# Telegram's wording, with either apostrophe.
_WITHHELD_RE = re.compile(r"can[’']t be displayed", re.I)
_CONTACT_RE = re.compile(r"\bContact @([A-Za-z0-9_]+)")
_COUNTER_RE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*([KMB]?)\s*$", re.I)
_EXACT_RE = re.compile(r"([0-9][0-9   ,]*)\s*(subscribers|members)", re.I)
_POST_RE = re.compile(r"^([A-Za-z0-9_]+)/([0-9]+)$")
_TME_POST_RE = re.compile(r"^/([A-Za-z0-9_]+)/([0-9]+)")
_SCALE = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}
_STYLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strike",
    "del": "strike",
    "strike": "strike",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
}


@dataclass(frozen=True)
class Header:
    """What the page shows about the channel (None: not shown)."""

    title: str | None = None
    username: str | None = None
    about: str | None = None
    photo_key: int | None = None
    verified: bool | None = None
    participants: int | None = None
    participants_max: int | None = None

    def seen(self, tg_id: int, now: datetime) -> ChannelSeen:
        return ChannelSeen(
            tg_id=tg_id,
            observed_at=now,
            title=self.title,
            username=self.username,
            username_known=self.username is not None,
            about=self.about,
            photo_id=self.photo_key,
            # A header without a photo says the channel has none.
            photo_known=self.title is not None,
            participants=self.participants,
            participants_max=self.participants_max,
            verified=self.verified,
            source="web",
        )


@dataclass(frozen=True)
class Page:
    kind: PageKind
    header: Header = field(default_factory=Header)
    posts: tuple[PostSeen, ...] = ()
    # The channel's numeric id, from the messages' data-view (None without any message).
    channel_id: int | None = None
    # Where `?before=` continues to older posts (None: this is the oldest page).
    before: int | None = None
    withheld_text: str | None = None
    # The name a "Contact @name" page speaks of.
    missing_name: str | None = None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def counter_range(value: str) -> tuple[int, int] | None:
    """'38.2K' -> (38150, 38299): every count Telegram shows that way; '93' -> (93, 93)."""
    m = _COUNTER_RE.match(value.replace("\xa0", " "))
    if m is None:
        return None
    number, suffix = m.group(1).replace(",", "."), m.group(2).upper()
    scale = _SCALE[suffix]
    if scale == 1:
        n = int(float(number))
        return n, n
    decimals = len(number.partition(".")[2])
    step = scale / 10**decimals
    mid = float(number) * scale
    # Whether Telegram rounds or cuts the digits is not known from the pages: take both.
    return round(mid - step / 2), round(mid + step) - 1


def counter_value(value: str) -> int | None:
    """A view counter as one number: the shown value ('1.2K' -> 1200)."""
    m = _COUNTER_RE.match(value.replace("\xa0", " "))
    if m is None:
        return None
    return round(float(m.group(1).replace(",", ".")) * _SCALE[m.group(2).upper()])


def channel_id_of(data_view: str | None) -> int | None:
    """data-view is base64url JSON whose `c` is the negated channel id."""
    if not data_view:
        return None
    try:
        raw = base64.urlsafe_b64decode(data_view + "=" * (-len(data_view) % 4))
        c = json.loads(raw)["c"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return -c if isinstance(c, int) and c < 0 else None


def photo_key(url: str | None) -> int | None:
    """A stable identity for the channel photo: the CDN file path, hashed (no host, no query)."""
    if not url:
        return None
    path = urlsplit(url).path
    if not path:
        return None
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big") >> 1


def _text(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    return node.text(deep=True).replace("\xa0", " ").strip()


class _Rich:
    """A message text as Telegram holds it: plain text plus UTF-16 entities."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[EntitySeen] = []

    def add(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.pos += utf16_len(text)

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag or ""  # selectolax types it Optional; "" names no tag we handle
            if tag == "-text":
                self.add(child.text(deep=False))
                continue
            if tag == "br":
                self.add("\n")
                continue
            classes = (child.attributes.get("class") or "").split()
            if tag == "i" and "emoji" in classes:
                self.add(child.text(deep=True))  # the emoji itself is in its <b>
                continue
            start = self.pos
            self.walk(child)
            length = self.pos - start
            entity = self._entity(child, tag, classes, start, length)
            if entity is not None and length > 0:
                self.entities.append(entity)

    def _entity(
        self, node: LexborNode, tag: str, classes: list[str], start: int, length: int
    ) -> EntitySeen | None:
        if tag == "tg-emoji":
            emoji_id = node.attributes.get("emoji-id") or ""
            return EntitySeen(
                "customemoji",
                start,
                length,
                custom_emoji_id=int(emoji_id) if emoji_id.isdigit() else None,
            )
        if tag == "span" and "tg-spoiler" in classes:
            return EntitySeen("spoiler", start, length)
        if tag == "a":
            return _link(node, start, length)
        kind = _STYLE_TAGS.get(tag)
        return EntitySeen(kind, start, length) if kind else None

    def result(self) -> tuple[str, tuple[EntitySeen, ...]]:
        text = "".join(self.parts)
        # Telegram's own order: by offset, outer entity first.
        ents = sorted(self.entities, key=lambda e: (e.offset, -e.length))
        return text, tuple(ents)


def _link(node: LexborNode, start: int, length: int) -> EntitySeen | None:
    href = node.attributes.get("href") or ""
    shown = node.text(deep=True)
    if shown.startswith("@") and href.rstrip("/").lower().endswith("/" + shown[1:].lower()):
        return EntitySeen("mention", start, length)
    if href.startswith("?q=") and shown[:1] in "#$":
        return EntitySeen("hashtag" if shown[0] == "#" else "cashtag", start, length)
    if href.startswith("mailto:"):
        return EntitySeen("email", start, length)
    if href.startswith("tel:"):
        return EntitySeen("phone", start, length)
    # A hidden text link: its target is only in the entity. The preview asks before opening
    # such links (onclick confirm), and shows plain URLs as themselves.
    if "onclick" in node.attributes or not _same_url(shown, href):
        return EntitySeen("texturl", start, length, url=href or None)
    return EntitySeen("url", start, length)


def _same_url(shown: str, href: str) -> bool:
    def bare(url: str) -> str:
        return re.sub(r"^[a-z]+://", "", url.strip(), flags=re.I).rstrip("/").lower()

    # Long URLs are shown cut with an ellipsis.
    seen = bare(shown.removesuffix("…"))
    return bool(seen) and bare(href).startswith(seen)


def rich_text(node: LexborNode | None) -> tuple[str, tuple[EntitySeen, ...]]:
    if node is None:
        return "", ()
    rich = _Rich()
    rich.walk(node)
    return rich.result()


def _media(msg: LexborNode) -> MediaSeen | None:
    if msg.css_first(".tgme_widget_message_grouped_wrap") is not None:
        kind = "album"
    elif msg.css_first(".tgme_widget_message_roundvideo_player") is not None:
        kind = "round"
    elif msg.css_first(".tgme_widget_message_video_player") is not None:
        kind = "gif" if msg.css_first(".message_video_duration") is None else "video"
    elif msg.css_first(".tgme_widget_message_photo_wrap") is not None:
        kind = "photo"
    elif msg.css_first(".tgme_widget_message_voice_player") is not None:
        kind = "voice"
    elif msg.css_first(".tgme_widget_message_sticker_wrap") is not None:
        kind = "sticker"
    elif msg.css_first(".tgme_widget_message_poll") is not None:
        kind = "poll"
    elif msg.css_first(".tgme_widget_message_location_wrap") is not None:
        kind = "location"
    elif (icon := msg.css_first(".tgme_widget_message_document_icon")) is not None:
        kind = "audio" if "audio" in (icon.attributes.get("class") or "") else "document"
    else:
        return None
    duration = _duration(_text(msg.css_first(".message_video_duration")))
    return MediaSeen(kind=kind, duration=duration)


def _duration(value: str | None) -> float | None:
    if not value:
        return None
    total = 0
    for part in value.split(":"):
        if not part.isdigit():
            return None
        total = total * 60 + int(part)
    return float(total)


def _post(msg: LexborNode) -> PostSeen | None:
    m = _POST_RE.match(msg.attributes.get("data-post") or "")
    time_node = msg.css_first(".tgme_widget_message_date time")
    when = time_node.attributes.get("datetime") if time_node is not None else None
    if m is None or not when:
        return None
    try:
        date = datetime.fromisoformat(when)
    except ValueError:
        return None
    # The reply's quoted text is also a .tgme_widget_message_text: take the post's own.
    text_node = None
    for node in msg.css(".tgme_widget_message_text"):
        if not _inside(node, "tgme_widget_message_reply"):
            text_node = node
            break
    text, entities = rich_text(text_node)
    views_node = msg.css_first(".tgme_widget_message_views")
    meta = msg.css_first(".tgme_widget_message_meta")
    edited = meta is not None and "edited" in (meta.text(deep=False) or "")
    media = _media(msg)
    forward = None
    fwd = msg.css_first(".tgme_widget_message_forwarded_from_name")
    if fwd is not None:
        href = fwd.attributes.get("href") or ""
        origin = _TME_POST_RE.match(urlsplit(href).path) if href else None
        forward = ForwardSeen(
            from_name=_text(fwd), message_id=int(origin.group(2)) if origin else None
        )
    reply_to = None
    reply = msg.css_first(".tgme_widget_message_reply")
    if reply is not None:
        target = _TME_POST_RE.match(urlsplit(reply.attributes.get("href") or "").path)
        reply_to = int(target.group(2)) if target else None
    preview = None
    lp = msg.css_first(".tgme_widget_message_link_preview")
    if lp is not None and lp.attributes.get("href"):
        preview = LinkPreviewSeen(
            url=lp.attributes["href"] or "",
            title=_text(lp.css_first(".link_preview_title")),
            site_name=_text(lp.css_first(".link_preview_site_name")),
            description=_text(lp.css_first(".link_preview_description")),
        )
    author = _text(msg.css_first(".tgme_widget_message_from_author"))
    return PostSeen(
        message_id=int(m.group(2)),
        date=date,
        text=text,
        media_kind=media.kind if media else None,
        views=counter_value(_text(views_node) or "") if views_node is not None else None,
        entities=entities,
        media=media,
        forward=forward,
        reply_to=reply_to,
        author=author,
        link_preview=preview,
        edited=edited,
        partial=True,
    )


def _inside(node: LexborNode, cls: str) -> bool:
    parent = node.parent
    while parent is not None:
        if cls in (parent.attributes.get("class") or "").split():
            return True
        if "tgme_widget_message" in (parent.attributes.get("class") or "").split():
            return False
        parent = parent.parent
    return False


def _header(tree: LexborHTMLParser) -> Header:
    info = tree.css_first(".tgme_channel_info")
    if info is None:
        return _page_header(tree)
    username = _text(info.css_first(".tgme_channel_info_header_username"))
    labels = info.css_first(".tgme_channel_info_header_labels")
    lo = hi = None
    for counter in info.css(".tgme_channel_info_counter"):
        if _text(counter.css_first(".counter_type")) in ("subscribers", "subscriber", "members"):
            rng = counter_range(_text(counter.css_first(".counter_value")) or "")
            if rng is not None:
                lo, hi = rng
    img = info.css_first(".tgme_page_photo_image img")
    about_node = info.css_first(".tgme_channel_info_description")
    return Header(
        title=_text(info.css_first(".tgme_channel_info_header_title")),
        username=username.lstrip("@") if username else None,
        about=rich_text(about_node)[0].strip() if about_node is not None else "",
        photo_key=photo_key(img.attributes.get("src") if img is not None else None),
        verified=labels is not None and labels.css_first(".verified-icon") is not None,
        participants=lo,
        participants_max=hi if hi != lo else None,
    )


def _page_header(tree: LexborHTMLParser) -> Header:
    """The plain channel page (t.me/name): shown when the post list is not public."""
    title = _text(tree.css_first(".tgme_page_title"))
    extra = _text(tree.css_first(".tgme_page_extra")) or ""
    lo = None
    if (m := _EXACT_RE.search(extra)) is not None:
        digits = re.sub(r"\D", "", m.group(1))
        lo = int(digits) if digits else None
    username = None
    if (u := re.search(r"@([A-Za-z0-9_]{4,})", extra)) is not None:
        username = u.group(1)
    desc = tree.css_first(".tgme_page_description")
    about = rich_text(desc)[0].strip() if desc is not None else None
    if about is not None and _WITHHELD_RE.search(about):
        about = None  # that is Telegram's notice, not the channel's description
    img = tree.css_first(".tgme_page_photo img")
    return Header(
        title=title,
        username=username,
        about=about,
        photo_key=photo_key(img.attributes.get("src") if img is not None else None),
        verified=tree.css_first(".tgme_page_title .verified-icon") is not None
        if title is not None
        else None,
        participants=lo,
    )


def parse_page(html: str) -> Page:
    """One /s/<name> answer, whatever it turned out to be."""
    tree = LexborHTMLParser(html)
    posts: list[PostSeen] = []
    ids: set[int] = set()
    for msg in tree.css(".tgme_widget_message[data-post]"):
        if _inside(msg, "tgme_widget_message_reply"):
            continue
        if (cid := channel_id_of(msg.attributes.get("data-view"))) is not None:
            ids.add(cid)
        if "service_message" in (msg.attributes.get("class") or "").split():
            continue  # a pin or a rename notice: the API's service messages, not posts
        post = _post(msg)
        if post is None:
            continue
        posts.append(post)
    notice = _withheld_notice(tree)
    has_channel = tree.css_first(".tgme_channel_info") is not None
    if posts:
        more = tree.css_first(".tme_messages_more[data-before]")
        before = more.attributes.get("data-before") if more is not None else None
        return Page(
            kind="posts",
            header=_header(tree),
            posts=tuple(sorted(posts, key=lambda p: p.message_id)),
            # Several ids on one page would be markup we do not understand: trust none.
            channel_id=ids.pop() if len(ids) == 1 else None,
            before=int(before) if before and before.isdigit() else None,
        )
    if notice is not None or (not has_channel and tree.css_first(".tgme_page_extra") is not None):
        return Page(kind="withheld", header=_header(tree), withheld_text=notice or "")
    title = tree.css_first("title")
    for node in (tree.css_first(".tgme_page_title"), title):
        if node is not None and (m := _CONTACT_RE.search(node.text(deep=True))):
            return Page(kind="not_found", missing_name=m.group(1))
    if has_channel:
        # A channel without any post yet; a service message ("Channel created") still
        # carries the id in its data-view.
        return Page(
            kind="posts", header=_header(tree), channel_id=ids.pop() if len(ids) == 1 else None
        )
    return Page(kind="unknown")


def _withheld_notice(tree: LexborHTMLParser) -> str | None:
    for sel in (".tgme_page_description", ".tgme_channel_history", ".tgme_widget_message_error"):
        node = tree.css_first(sel)
        if node is not None:
            text = _text(node) or ""
            if _WITHHELD_RE.search(text):
                return text
    return None


EmbedKind = Literal["found", "not_found", "unknown"]


def parse_embed(html: str) -> EmbedKind:
    """A single post's embed (/name/123?embed=1): does the post still exist?"""
    tree = LexborHTMLParser(html)
    if tree.css_first(".tgme_widget_message[data-post]") is not None:
        return "found"
    error = tree.css_first(".tgme_widget_message_error")
    if error is not None and "not found" in (error.text(deep=True) or "").lower():
        return "not_found"
    return "unknown"
