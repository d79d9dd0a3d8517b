"""index.html of a proof pack: one self-contained, offline page built from the log records.

Everything shown comes from the records the pack proves, and every item names its record
hash. No request leaves the page: styles, the chart and images are inline (data: URIs);
media too large to inline are linked by their relative path inside the pack. Every text
from Telegram is escaped: titles and posts may be hostile.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.worddiff import word_diff

INLINE_LIMIT = 5 * 1024 * 1024  # per image
INLINE_BUDGET = 40 * 1024 * 1024  # per page: beyond it images are linked, the page stays light

TEXT = {
    "en": {
        "title": "Proof pack",
        "labels": "Labels now",
        "none": "none",
        "timeline": "Timeline",
        "posts": "Posts",
        "subscribers": "Subscribers",
        "deleted": "DELETED",
        "deleted_at": "deleted",
        "version": "version",
        "edited": "edited",
        "record": "record",
        "renamed": "renamed",
        "username": "username",
        "photo": "photo changed",
        "label_added": "label added",
        "label_removed": "label removed",
        "unreachable": "unreachable",
        "reachable": "reachable again",
        "first_seen": "first observed",
        "key": "signing key",
        "media": "media file",
        "verify": "Check this pack with: python verify.py",
    },
    "ru": {
        "title": "Пакет доказательств",
        "labels": "Метки сейчас",
        "none": "нет",
        "timeline": "Хронология",
        "posts": "Посты",
        "subscribers": "Подписчики",
        "deleted": "УДАЛЁН",
        "deleted_at": "удалён",
        "version": "версия",
        "edited": "изменён",
        "record": "запись",
        "renamed": "переименован",
        "username": "имя пользователя",
        "photo": "сменилось фото",
        "label_added": "добавлена метка",
        "label_removed": "снята метка",
        "unreachable": "недоступен",
        "reachable": "снова доступен",
        "first_seen": "впервые замечен",
        "key": "ключ подписи",
        "media": "медиафайл",
        "verify": "Проверить пакет: python verify.py",
    },
}

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d1f23}
header,main{max-width:900px;margin:0 auto;padding:12px 16px}
header{background:#fff;border-bottom:1px solid #ddd}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em}
.label{display:inline-block;padding:1px 8px;border-radius:4px;margin:2px;font-weight:700;
background:#555;color:#fff}.label.fake,.label.scam{background:#c62828}
.label.verified{background:#1565c0}.label.restricted{background:#ef6c00}
.item,.post{background:#fff;border:1px solid #ddd;border-radius:6px;margin:6px 0;padding:8px 10px}
.post{content-visibility:auto;contain-intrinsic-size:auto 140px}
.post.deleted{border-color:#c62828;background:#fff5f5}
.badge{color:#c62828;font-weight:700}
.hash{font:11px monospace;color:#777;word-break:break-all}
.text{white-space:pre-wrap;word-wrap:break-word}
del{background:#ffd7d7}ins{background:#d4f5d4;text-decoration:none}
img.media{max-width:100%;height:auto;display:block;margin:6px 0}
svg{width:100%;height:auto;background:#fff;border:1px solid #ddd;border-radius:6px}
.meta{color:#555;font-size:.9em}
"""


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _label(label: str) -> str:
    kind = label.split(":", 1)[0]
    text = {"fake": "FAKE", "scam": "SCAM", "verified": "✓ VERIFIED"}.get(kind)
    if text is None:
        parts = label.split(":")
        text = "RESTRICTED " + " ".join(parts[1:]) if kind == "restricted" else label
    return f'<span class="label {e(kind)}">{e(text)}</span>'


def _hash(record_hash: str, t: Mapping[str, str]) -> str:
    return f'<div class="hash">{e(t["record"])} {e(record_hash)}</div>'


def _diff(before: str, after: str) -> str:
    out = []
    for op, piece in word_diff(before, after):
        if op == "equal":
            out.append(e(piece))
        elif op == "delete":
            out.append(f"<del>{e(piece)}</del>")
        else:
            out.append(f"<ins>{e(piece)}</ins>")
    return "".join(out)


def _timeline(states: Sequence[tuple[str, dict[str, Any]]], t: Mapping[str, str]) -> list[str]:
    items = []
    prev: dict[str, Any] | None = None
    for record_hash, st in states:
        at = st.get("observed_at", "")
        what: list[str] = []
        if prev is None:
            what.append(f"{t['first_seen']}: {e(st.get('title'))}")
        else:
            if st.get("title") != prev.get("title"):
                what.append(f"{t['renamed']}: {e(prev.get('title'))} → {e(st.get('title'))}")
            if st.get("username") != prev.get("username"):
                what.append(
                    f"{t['username']}: @{e(prev.get('username'))} → @{e(st.get('username'))}"
                )
            if st.get("photo_id") != prev.get("photo_id"):
                what.append(t["photo"])
            old, new = set(prev.get("labels", [])), set(st.get("labels", []))
            texts = {
                f"restricted:{r.get('platform')}:{r.get('reason')}": r.get("text")
                for r in st.get("restrictions", [])
            }
            what += [
                f"{t['label_added']} {_label(x)}"
                + (f" <q>{e(texts[x])}</q>" if texts.get(x) else "")
                for x in sorted(new - old)
            ]
            what += [f"{t['label_removed']} {_label(x)}" for x in sorted(old - new)]
            if st.get("reachable") != prev.get("reachable"):
                what.append(
                    t["reachable"]
                    if st.get("reachable")
                    else f"{t['unreachable']} ({e(st.get('unavailable_reason'))})"
                )
        if what:
            items.append(
                f'<div class="item"><div class="meta">{e(at)}</div>'
                f"{'<br>'.join(what)}{_hash(record_hash, t)}</div>"
            )
        prev = st
    return items


def _chart(states: Sequence[tuple[str, dict[str, Any]]]) -> str:
    points = [
        (s.get("observed_at", ""), s["participants"])
        for _, s in states
        if s.get("participants") is not None
    ]
    if not points:
        return ""
    w, h, pad = 800, 200, 30
    lo, hi = min(p[1] for p in points), max(p[1] for p in points)
    span = max(hi - lo, 1)
    n = max(len(points) - 1, 1)
    xy = [
        (pad + i * (w - 2 * pad) / n, h - pad - (v - lo) * (h - 2 * pad) / span)
        for i, (_, v) in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    return (
        f'<svg viewBox="0 0 {w} {h}" role="img" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{line}"/>'
        f'<text x="{pad}" y="{pad - 10}" font-size="12">{e(hi)}</text>'
        f'<text x="{pad}" y="{h - 8}" font-size="12">{e(lo)} · {e(points[0][0][:10])} … '
        f"{e(points[-1][0][:10])}</text></svg>"
    )


def _media_html(
    m: dict[str, Any], media: Mapping[str, Path], t: Mapping[str, str], budget: list[int]
) -> str:
    digest = str(m.get("sha256", ""))
    mime = str(m.get("mime_type") or "application/octet-stream")
    path = media.get(digest)
    rel = f"media/{digest[0:2]}/{digest[2:4]}/{digest}"
    size = path.stat().st_size if path is not None else 0
    if path is not None and mime.startswith("image/") and size <= min(INLINE_LIMIT, budget[0]):
        budget[0] -= size
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<img class="media" alt="{e(t["media"])}" src="data:{e(mime)};base64,{data}">'
    label = f"{t['media']} {e(mime)} {e(m.get('size'))} B"
    if path is None:
        return f'<div class="meta">{label} · {e(digest)}</div>'
    return f'<div class="meta"><a href="{e(rel)}">{label}</a> · {e(digest)}</div>'


def render_page(
    channel: Mapping[str, Any],
    records: Sequence[tuple[str, dict[str, Any]]],
    media: Mapping[str, Path],
    *,
    lang: str = "en",
    fingerprint: str = "",
) -> str:
    words = TEXT.get(lang, TEXT["en"])
    states = [(h, r) for h, r in records if r.get("type") == "channel"]
    posts: dict[int, dict[str, Any]] = {}
    for record_hash, record in records:
        if record.get("type") in ("post", "post_deleted", "media") and "message_id" in record:
            post = posts.setdefault(
                record["message_id"], {"versions": [], "deleted": None, "media": []}
            )
            if record["type"] == "post":
                post["versions"].append((record_hash, record))
            elif record["type"] == "post_deleted":
                post["deleted"] = (record_hash, record)
            else:
                post["media"].append((record_hash, record))
    labels = "".join(_label(x) for x in channel.get("labels", [])) or e(words["none"])
    out = [
        f'<!DOCTYPE html><html lang="{e(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{e(words['title'])}: {e(channel.get('title'))}</title><style>{CSS}</style></head>",
        f"<body><header><h1>{e(channel.get('title'))}</h1>",
        f'<div class="meta">@{e(channel.get("username"))} · id {e(channel.get("tg_id"))}</div>',
        f"<div>{e(words['labels'])}: {labels}</div>",
        f'<div class="meta">{e(words["key"])}: {e(fingerprint)} · {e(words["verify"])}</div>'
        "</header>",
        "<main>",
    ]
    budget = [INLINE_BUDGET]
    chart = _chart(states)
    if chart:
        out += [f"<h2>{e(words['subscribers'])}</h2>", chart]
    out.append(f"<h2>{e(words['timeline'])}</h2>")
    out += _timeline(states, words)
    out.append(f"<h2>{e(words['posts'])} ({len(posts)})</h2>")
    for message_id in sorted(posts, reverse=True):
        post = posts[message_id]
        cls = "post deleted" if post["deleted"] else "post"
        parts = [f'<article class="{cls}" id="m{message_id}">']
        first = post["versions"][0][1] if post["versions"] else {}
        parts.append(f'<div class="meta">#{message_id} · {e(first.get("date"))}</div>')
        if post["deleted"]:
            deleted_hash, deletion = post["deleted"]
            parts.append(
                f'<div class="badge">{e(words["deleted"])} · {e(words["deleted_at"])} '
                f"{e(deletion.get('deleted_at'))}</div>{_hash(deleted_hash, words)}"
            )
        before: str | None = None
        for record_hash, version in post["versions"]:
            text = str(version.get("text") or "")
            body = e(text) if before is None else _diff(before, text)
            head = f"{words['version']} {e(version.get('version'))}"
            if version.get("edit_date"):
                head += f" · {words['edited']} {e(version.get('edit_date'))}"
            parts.append(
                f'<div class="meta">{head}</div><div class="text">{body}</div>'
                + _hash(record_hash, words)
            )
            before = text
        for record_hash, media_record in post["media"]:
            parts.append(
                _media_html(media_record, media, words, budget) + _hash(record_hash, words)
            )
        parts.append("</article>")
        out.append("".join(parts))
    out.append("</main></body></html>")
    return "\n".join(out)
