"""Measure and split Telegram message text.

Telegram limits a message to 4096 UTF-16 code units of *visible* text, measured
after HTML entity parsing: tags take no room and ``&amp;`` is one character. An
emoji outside the Basic Multilingual Plane (😀) takes two units.

* :func:`utf16_len` / :func:`visible_len` / :func:`visible_text` measure.
* :func:`split_text` cuts **plain** text (before escaping) at natural boundaries:
  paragraph, line, sentence, word, and only then a hard cut that avoids splitting
  a character sequence (combining marks, ZWJ emoji, flags). Concatenating the
  chunks gives back the input exactly.
* :func:`split_html` packs already-valid HTML items into as few messages as
  possible, breaking between items; an item that alone is too long is cut at
  natural boundaries of its visible text, closing open tags at the cut and
  reopening them in the next piece.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

__all__ = [
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "split_html",
    "split_text",
    "truncate",
    "utf16_len",
    "visible_len",
    "visible_text",
]

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

_TOKEN_RE = re.compile(
    r"<[^<>]*>"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});"
)
_TAG_NAME_RE = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9-]*)")
# Telegram's HTML parse mode knows these named entities (and every numeric one).
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'»”’)\]]*\s+")

_ZWJ = "\u200d"
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
_TAG_CHARS = range(0xE0020, 0xE0080)
_MAX_GRAPHEME_BACKOFF = 32


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units, the way Telegram counts."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _decode_entity(raw: str) -> str | None:
    body = raw[1:-1]
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
        except ValueError:
            return None
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code)
        return None
    return _NAMED_ENTITIES.get(body)


def visible_text(html: str) -> str:
    """The text Telegram shows for ``html``: tags removed, entities decoded."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(html):
        out.append(html[pos : m.start()])
        raw = m.group()
        if raw[0] == "&":
            decoded = _decode_entity(raw)
            out.append(raw if decoded is None else decoded)
        pos = m.end()
    out.append(html[pos:])
    return "".join(out)


def visible_len(html: str) -> int:
    """UTF-16 length of :func:`visible_text` — what Telegram checks against 4096."""
    return utf16_len(visible_text(html))


# --------------------------------------------------------------------------- plain text


def _is_ri(ch: str) -> bool:
    return ord(ch) in _REGIONAL_INDICATORS


def _breaks_cluster(text: str, pos: int) -> bool:
    """Would cutting before ``text[pos]`` split a user-perceived character?"""
    if pos <= 0 or pos >= len(text):
        return False
    nxt, prev = text[pos], text[pos - 1]
    cp = ord(nxt)
    if prev == "\r" and nxt == "\n":
        return True
    if prev == _ZWJ or nxt == _ZWJ:
        return True
    if unicodedata.category(nxt) in ("Mn", "Me", "Mc"):
        return True
    if 0xFE00 <= cp <= 0xFE0F or cp in _SKIN_TONES or cp in _TAG_CHARS:
        return True
    if _is_ri(nxt) and _is_ri(prev):
        run = 0
        i = pos - 1
        while i >= 0 and _is_ri(text[i]):
            run += 1
            i -= 1
        return run % 2 == 1
    return False


def _find_cut(text: str, start: int, end_max: int) -> int:
    """Best cut position in ``text[start:end_max]`` (the whole window fits)."""
    lo = start + max(1, (end_max - start) // 2)
    if lo < end_max:
        # paragraph
        i = text.rfind("\n\n", lo - 1, end_max)
        if i != -1:
            p = i + 2
            while p < end_max and text[p] == "\n":
                p += 1
            return p
        # line
        i = text.rfind("\n", lo - 1, end_max)
        if i != -1:
            return i + 1
        # sentence
        last = None
        for m in _SENTENCE_END_RE.finditer(text, lo - 1, end_max):
            last = m
        if last is not None:
            return last.end()
        # word
        if end_max < len(text) and text[end_max].isspace():
            return end_max
        for i in range(end_max - 1, lo - 2, -1):
            if text[i].isspace():
                return i + 1
    # hard cut, keeping grapheme clusters together when possible
    p = end_max
    steps = 0
    while p > start + 1 and steps < _MAX_GRAPHEME_BACKOFF and _breaks_cluster(text, p):
        p -= 1
        steps += 1
    if _breaks_cluster(text, p):
        p = end_max
    return p


def _cut_points(text: str, limits: Iterable[int]) -> list[int]:
    n = len(text)
    # UTF-16 offsets of each position; without astral characters they are the positions
    # themselves, and counting them one by one was most of the cost of a long text.
    units: Sequence[int] = (
        range(n + 1)
        if utf16_len(text) == n
        else [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]
    )
    ends: list[int] = []
    start = 0
    it = iter(limits)
    while start < n:
        budget = next(it)
        end_max = bisect_right(units, units[start] + budget) - 1
        if end_max >= n:
            ends.append(n)
            break
        if end_max <= start:
            raise ValueError(f"limit {budget} is too small for character {text[start]!r}")
        cut = _find_cut(text, start, end_max)
        ends.append(cut)
        start = cut
    return ends


def _limits(first: int, rest: int) -> Iterable[int]:
    yield first
    while True:
        yield rest


def split_text(
    text: str, limit: int = MESSAGE_LIMIT, *, first_limit: int | None = None
) -> list[str]:
    """Cut plain ``text`` into chunks of at most ``limit`` UTF-16 units each.

    ``first_limit`` (default ``limit``) bounds the first chunk only, for a first
    message that also carries a header. ``"".join(result) == text``; an empty
    text gives ``[]``. Escape each chunk *after* splitting.
    """
    if limit < 2 or (first_limit is not None and first_limit < 2):
        raise ValueError("limit must be at least 2 UTF-16 units")
    if not text:
        return []
    ends = _cut_points(text, _limits(first_limit or limit, limit))
    chunks: list[str] = []
    start = 0
    for end in ends:
        chunks.append(text[start:end])
        start = end
    return chunks


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` if it fits in ``limit`` UTF-16 units, else a prefix ending in ``ellipsis``.

    The prefix is cut at a natural boundary like :func:`split_text`.
    """
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(ellipsis)
    if room < 2:
        return ellipsis if utf16_len(ellipsis) <= limit else ""
    head = split_text(text, room)[0].rstrip()
    return head + ellipsis


# --------------------------------------------------------------------------- HTML


def _tag_info(raw: str) -> tuple[str, bool] | None:
    """(name, is_closing) for a tag token; None for comments/declarations/self-closing."""
    if raw.endswith("/>"):
        return None
    m = _TAG_NAME_RE.match(raw)
    if m is None:
        return None
    return m.group(2).lower(), bool(m.group(1))


def _html_units(html: str) -> tuple[list[tuple[str, str]], str]:
    """Split ``html`` into ("tag", raw) and ("char", raw) units plus the visible text."""
    units: list[tuple[str, str]] = []
    visible: list[str] = []

    def add_text(s: str) -> None:
        for ch in s:
            units.append(("char", ch))
            visible.append(ch)

    pos = 0
    for m in _TOKEN_RE.finditer(html):
        add_text(html[pos : m.start()])
        raw = m.group()
        if raw[0] == "&":
            decoded = _decode_entity(raw)
            if decoded is None:
                add_text(raw)
            else:
                units.append(("char", raw))
                visible.append(decoded)
        else:
            units.append(("tag", raw))
        pos = m.end()
    add_text(html[pos:])
    return units, "".join(visible)


def _split_html_item(html: str, limit: int) -> list[str]:
    units, visible = _html_units(html)
    cuts = _cut_points(visible, _limits(limit, limit))[:-1]
    pieces: list[str] = []
    current: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag as written)
    vis_idx = 0
    cut_iter = iter(cuts)
    next_cut = next(cut_iter, None)

    def close_piece() -> None:
        nonlocal current
        current.extend(f"</{name}>" for name, _ in reversed(stack))
        pieces.append("".join(current))
        current = [raw for _, raw in stack]

    for kind, raw in units:
        if kind == "tag":
            info = _tag_info(raw)
            if info is not None and not info[1] and vis_idx == next_cut:
                close_piece()
                next_cut = next(cut_iter, None)
            current.append(raw)
            if info is None:
                continue
            name, closing = info
            if closing:
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i][0] == name:
                        del stack[i:]
                        break
            else:
                stack.append((name, raw))
        else:
            if vis_idx == next_cut:
                close_piece()
                next_cut = next(cut_iter, None)
            current.append(raw)
            vis_idx += 1
    pieces.append("".join(current))
    return pieces


def split_html(
    parts: Sequence[str],
    limit: int = MESSAGE_LIMIT,
    sep: str = "\n",
    *,
    sizes: Sequence[int] | None = None,
) -> list[str]:
    """Pack HTML ``parts`` in order into as few messages as possible.

    Items in one message are joined with ``sep`` (which counts towards the limit).
    Each message is at most ``limit`` visible UTF-16 units. Messages break only
    between items, except that an item longer than ``limit`` on its own is cut at
    natural boundaries of its visible text, with open tags closed at the cut and
    reopened after it; entities are never cut.

    ``sizes``, when given, are the parts' :func:`visible_len` (a caller that packs
    the same pieces for many readers measures each piece once).
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 units")
    if sizes is not None and len(sizes) != len(parts):
        raise ValueError("sizes must give one size per part")
    sep_len = utf16_len(sep)
    messages: list[str] = []
    current: list[str] = []
    current_len = 0
    for index, part in enumerate(parts):
        size = visible_len(part) if sizes is None else sizes[index]
        if size <= limit:
            measured = [(part, size)]
        else:
            measured = [(piece, visible_len(piece)) for piece in _split_html_item(part, limit)]
        for piece, size in measured:
            if current and current_len + sep_len + size <= limit:
                current.append(piece)
                current_len += sep_len + size
                continue
            if current:
                messages.append(sep.join(current))
            current = [piece]
            current_len = size
    if current:
        messages.append(sep.join(current))
    return messages
