"""What every rendered message must be, for the tests of each renderer: Telegram HTML with
only our tags and within the length limit; a sample payload per kind; any text at all."""

from __future__ import annotations

import html
import re
from typing import Any

from hypothesis import strategies as st

from bot.textsplit import visible_len, visible_text

LIMIT = 4096

_TOKEN = re.compile(r"<[^>]*>|&[^;\s<>&]*;|[<>&]")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_OPEN = re.compile(r"<(b|i|u|s|blockquote)>|<a href=\"([^\"<>]*)\">")
_CLOSE = re.compile(r"</(b|i|u|s|blockquote|a)>")


def assert_telegram_html(text: str) -> None:
    """Only the tags we emit, balanced and nested, with valid entities and no stray < > &."""
    stack: list[str] = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.startswith("&"):
            assert _ENTITY.fullmatch(tok), f"bad entity {tok!r} in {text!r}"
            continue
        if tok in ("<", ">", "&"):
            raise AssertionError(f"stray {tok!r} at {m.start()} in {text!r}")
        if (close := _CLOSE.fullmatch(tok)) is not None:
            assert stack, f"unexpected {tok!r} in {text!r}"
            assert stack.pop() == close.group(1), f"misnested {tok!r} in {text!r}"
            continue
        opening = _OPEN.fullmatch(tok)
        assert opening is not None, f"tag not allowed: {tok!r} in {text!r}"
        if opening.group(2) is not None:
            href = opening.group(2)
            for ent in re.findall(r"&[^;]*;", href):
                assert _ENTITY.fullmatch(ent), f"bad entity in href {href!r}"
            assert "&" not in _ENTITY.sub("", href), f"stray & in href {href!r}"
            assert html.unescape(href).startswith("https://t.me/"), href
            stack.append("a")
        else:
            stack.append(opening.group(1))
        assert stack.count("a") <= 1, "nested links"
    assert not stack, f"unclosed {stack} in {text!r}"
    assert visible_text(text).strip(), "empty message"


def check_messages(messages: list[str]) -> None:
    assert messages, "no message rendered"
    for message in messages:
        assert_telegram_html(message)
        assert visible_len(message) <= LIMIT, visible_len(message)


PAYLOADS: dict[str, dict[str, Any]] = {
    "post.new": {
        "message_id": 1234,
        "text": "Мы требуем вернуть наших мужей домой.",
        "media_kind": "photo",
        "grouped_id": None,
        "album_size": None,
    },
    "post.edited": {
        "message_id": 1234,
        "before": "Мы требуем вернуть мужей домой.",
        "after": "Мы требуем вернуть наших мужей домой сейчас.",
        "edit_date": "2024-01-05T10:00:00+00:00",
    },
    "post.deleted": {
        "message_id": 1234,
        "text": "Этот пост удалили.",
        "date": "2024-01-04T09:30:00+00:00",
        "mass": True,
        "count": 17,
    },
    "channel.label_added": {"label": "fake", "text": None},
    "channel.label_removed": {"label": "fake", "text": None},
    "channel.renamed": {"before": "Путь домой", "after": "Путь домой (архив)"},
    "channel.username_changed": {"before": "put_domoy", "after": "put_domoy2"},
    "channel.about_changed": {"before": "Жёны и матери", "after": "Жёны, матери и сёстры"},
    "channel.unavailable": {"reason": "banned", "detail": "Telegram: channel blocked"},
    "channel.available": {},
    "channel.photo_changed": {"before": 111, "after": 222},
    "channel.subscribers_jump": {
        "before": 50000,
        "after": 62000,
        "change_pct": 24.0,
        "window_hours": 6.0,
    },
    "channel.preview_withheld": {
        "text": "This channel can’t be displayed because it violated local laws."
    },
    "channel.preview_restored": {},
    "broadcast": {"text": "Бот обновлён. <b>Спасибо</b> &amp; до встречи."},
}

any_text = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(["<", ">", "&", '"', "'", "&amp;", "</a>", "<b>", "\n", "😀", "\u200d"]),
    ),
    max_size=300,
).map("".join)
