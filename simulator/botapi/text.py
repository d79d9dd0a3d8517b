"""Text rules of the simulated Bot API: UTF-16 lengths and the HTML parse mode.

The HTML parser follows the behaviour of TDLib's ``parse_html`` (which is what the
real Bot API server runs): the same supported tags, the same error texts with UTF-8
byte offsets, entities measured in UTF-16 code units, and ``&lt;``-style entities
decoded. It is an independent implementation written for the simulator.

One deliberate difference, on by default (``strict_ampersand``): Telegram keeps an
unknown ``&name`` as literal text, the simulator rejects it so that a value that was
put into HTML without escaping is caught in tests. Pass ``strict_ampersand=False``
for Telegram's lenient behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUPPORTED_TAGS",
    "HtmlParseError",
    "ParsedText",
    "parse_html",
    "trim_text",
    "utf16_len",
]

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "code",
        "pre",
        "blockquote",
    }
)

_SIMPLE_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\n\r\f\v"
_URL_SCHEMES = ("http://", "https://", "tg://", "ton://", "tonsite://")
_TG_USER = re.compile(r"^tg://user\?id=(\d{1,19})$", re.IGNORECASE)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram measures in."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(err)`` is TDLib's message."""


@dataclass
class ParsedText:
    """Visible text and its entities (dicts shaped like Bot API ``MessageEntity``)."""

    text: str
    entities: list[dict[str, Any]]


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_start: int
    char_start: int
    byte_offset: int


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(text: str, pos: int) -> tuple[str, int, bool] | None:
    """Decode an HTML character reference at ``text[pos] == '&'``.

    Returns ``(character, next_index, had_semicolon)`` or ``None`` when it is not a
    reference Telegram understands (TDLib then keeps the ``&`` literally).
    """
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            start = end
            while end < n and text[end] in "0123456789abcdefABCDEF":
                end += 1
            if end > start:
                value = int(text[start:end], 16)
        else:
            start = end
            while end < n and text[end].isascii() and text[end].isdigit():
                end += 1
            if end > start:
                value = int(text[start:end])
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        char_or_none = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if char_or_none is None:
            return None
        char = char_or_none
    if end < n and text[end] == ";":
        return char, end + 1, True
    return char, end, False


def _valid_url(url: str) -> bool:
    if not url or any(ch in _SPACES for ch in url):
        return False
    low = url.lower()
    if low.startswith(_URL_SCHEMES):
        return len(url) > low.index("://") + 3
    if "://" in url:
        return False
    host = url.split("/", 1)[0]
    return "." in host and not host.startswith(".") and not host.endswith(".")


class _HtmlParser:
    def __init__(self, text: str, *, strict_ampersand: bool) -> None:
        self.src = text
        self.n = len(text)
        self.strict = strict_ampersand
        self.out: list[str] = []
        self.out_chars = 0
        self.utf16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def ch(self, i: int) -> str:
        return self.src[i] if i < self.n else ""

    def fail(self, message: str) -> HtmlParseError:
        return HtmlParseError(message)

    def emit(self, chars: str) -> None:
        self.out.append(chars)
        self.out_chars += len(chars)
        self.utf16 += utf16_len(chars)

    def run(self) -> ParsedText:
        i = 0
        src = self.src
        while i < self.n:
            c = src[i]
            if c == "&":
                decoded = _decode_entity(src, i)
                if decoded is not None and (decoded[2] or not self.strict):
                    self.emit(decoded[0])
                    i = decoded[1]
                    continue
                if self.strict and (
                    decoded is not None or (i + 1 < self.n and re.match(r"[#A-Za-z]", src[i + 1]))
                ):
                    m = re.match(r"&#?[A-Za-z0-9]*;?", src[i:])
                    shown = m.group(0) if m else "&"
                    why = (
                        "a character reference must end with ';'"
                        if decoded is not None
                        else "Telegram would keep it as text"
                    )
                    raise self.fail(
                        f'Unescaped "&" in "{shown}" at byte offset {_byte_offset(src, i)}: '
                        f"use &amp; (simulator strict mode; {why})"
                    )
            if c != "<":
                self.emit(c)
                i += 1
                continue
            if self.ch(i + 1) == "/":
                i = self.end_tag(i)
            else:
                i = self.start_tag(i)
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        for entity in self.entities:
            entity.pop("_code_language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.out), self.entities)

    def start_tag(self, begin: int) -> int:
        src = self.src
        boff = _byte_offset(src, begin)
        i = begin + 1
        while i < self.n and src[i] not in _SPACES and src[i] != ">":
            i += 1
        if i >= self.n:
            raise self.fail(f"Unclosed start tag at byte offset {boff}")
        tag = src[begin + 1 : i].lower()
        if tag not in SUPPORTED_TAGS:
            raise self.fail(f'Unsupported start tag "{tag}" at byte offset {boff}')
        argument = ""
        attrs: dict[str, str] = {}
        while self.ch(i) != ">":
            while i < self.n and src[i] in _SPACES:
                i += 1
            if self.ch(i) == ">":
                break
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}" at byte offset {boff}')
            name_start = i
            while i < self.n and src[i] not in _SPACES and src[i] not in "=>":
                i += 1
            name = src[name_start:i].lower()
            if not name:
                raise self.fail(f'Empty attribute name in the tag "{tag}" at byte offset {boff}')
            while i < self.n and src[i] in _SPACES:
                i += 1
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}" at byte offset {boff}')
            value = ""
            if src[i] == "=":
                i += 1
                while i < self.n and src[i] in _SPACES:
                    i += 1
                if i >= self.n:
                    raise self.fail(f'Unclosed start tag "{tag}" at byte offset {boff}')
                if src[i] in "'\"":
                    quote = src[i]
                    i += 1
                    parts: list[str] = []
                    while i < self.n and src[i] != quote:
                        if src[i] == "&":
                            decoded = _decode_entity(src, i)
                            if decoded is not None:
                                parts.append(decoded[0])
                                i = decoded[1]
                                continue
                        parts.append(src[i])
                        i += 1
                    value = "".join(parts)
                    if i < self.n:
                        i += 1
                else:
                    token_start = i
                    while i < self.n and (
                        (src[i].isascii() and src[i].isalnum()) or src[i] in ".-"
                    ):
                        i += 1
                    value = src[token_start:i].lower()
                    if i < self.n and src[i] not in _SPACES and src[i] != ">":
                        raise self.fail(
                            "Unexpected end of name token at byte offset "
                            f"{_byte_offset(src, token_start)}"
                        )
                if i >= self.n:
                    raise self.fail(f"Unclosed start tag at byte offset {boff}")
            attrs[name] = value
            if tag == "a" and name == "href":
                argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and name == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif tag == "tg-emoji" and name == "emoji-id":
                argument = value
            elif tag == "blockquote" and name == "expandable":
                argument = "1"
            elif tag == "tg-time" and name in ("unix", "format"):
                argument = f"{attrs.get('unix', '')}|{attrs.get('format', '')}"
        if tag == "span" and argument != "spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {boff}')
        self.stack.append(_Open(tag, argument, self.utf16, self.out_chars, boff))
        return i + 1

    def end_tag(self, begin: int) -> int:
        src = self.src
        boff = _byte_offset(src, begin)
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {boff}")
        i = begin + 2
        while i < self.n and src[i] not in _SPACES and src[i] != ">":
            i += 1
        end_name = src[begin + 2 : i]
        while i < self.n and src[i] in _SPACES:
            i += 1
        if self.ch(i) != ">":
            raise self.fail(f"Unclosed end tag at byte offset {boff}")
        open_ = self.stack[-1]
        if end_name and end_name != open_.tag:
            raise self.fail(
                f'Unmatched end tag at byte offset {boff}, expected "</{open_.tag}>", '
                f'found "</{end_name}>"'
            )
        if self.utf16 > open_.utf16_start:
            self.close_entity(open_)
        self.stack.pop()
        return i + 1

    def close_entity(self, open_: _Open) -> None:
        offset = open_.utf16_start
        length = self.utf16 - offset
        tag = open_.tag
        last = self.entities[-1] if self.entities else None
        same_range = last is not None and last["offset"] == offset and last["length"] == length
        entity: dict[str, Any] = {"offset": offset, "length": length}
        if tag in _SIMPLE_TYPES:
            entity["type"] = _SIMPLE_TYPES[tag]
        elif tag == "a":
            url = open_.argument or "".join(self.out)[open_.char_start :]
            user = _TG_USER.match(url)
            if user:
                user_id = int(user.group(1))
                entity["type"] = "text_mention"
                entity["user"] = {"id": user_id, "is_bot": False, "first_name": "User"}
            elif _valid_url(url):
                entity["type"] = "text_link"
                entity["url"] = url
            else:
                return
        elif tag == "pre":
            if (
                last is not None
                and same_range
                and last["type"] == "code"
                and last.get("_code_language")
            ):
                last["type"] = "pre"
                last["language"] = last.pop("_code_language")
                return
            entity["type"] = "pre"
        elif tag == "code":
            if last is not None and same_range and last["type"] == "pre" and open_.argument:
                last["language"] = open_.argument
                return
            entity["type"] = "code"
            if open_.argument:
                entity["_code_language"] = open_.argument
        elif tag == "blockquote":
            entity["type"] = "expandable_blockquote" if open_.argument else "blockquote"
        elif tag == "tg-emoji":
            arg = open_.argument
            if not arg.isdigit() or not 0 < int(arg) < 2**63:
                raise self.fail("Invalid custom emoji identifier specified")
            entity["type"] = "custom_emoji"
            entity["custom_emoji_id"] = arg
        elif tag == "tg-time":
            unix, _, fmt = open_.argument.partition("|")
            entity["type"] = "date_time"
            entity["unix_time"] = int(unix) if unix.lstrip("-").isdigit() else 0
            if fmt:
                entity["date_time_format"] = fmt
        self.entities.append(entity)


def parse_html(text: str, *, strict_ampersand: bool = True) -> ParsedText:
    """Parse Telegram HTML into visible text and entities.

    Raises :class:`HtmlParseError` with TDLib's wording (without the
    ``"Can't parse entities: "`` prefix) when Telegram would refuse the text.
    """
    return _HtmlParser(text, strict_ampersand=strict_ampersand).run()


def _utf16_index(text: str) -> list[int]:
    """UTF-16 offset of every character boundary of ``text`` (len(text) + 1 items)."""
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return offsets


def trim_text(text: str, entities: list[dict[str, Any]]) -> ParsedText:
    """Strip leading and trailing whitespace as Telegram does, clipping entities."""
    stripped_left = text.lstrip(_SPACES)
    removed = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip(_SPACES)
    total = utf16_len(result)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - removed)
        end = min(total, int(entity["offset"]) + int(entity["length"]) - removed)
        if end <= start:
            continue
        copy = dict(entity)
        copy["offset"] = start
        copy["length"] = end - start
        fixed.append(copy)
    return ParsedText(result, fixed)


def clip_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop or shorten caller-supplied entities that fall outside ``text``."""
    total = _utf16_index(text)[-1]
    fixed = []
    for entity in entities:
        start = max(0, int(entity.get("offset", 0)))
        end = min(total, start + int(entity.get("length", 0)))
        if end <= start or not entity.get("type"):
            continue
        copy = dict(entity)
        copy["offset"] = start
        copy["length"] = end - start
        fixed.append(copy)
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return fixed
