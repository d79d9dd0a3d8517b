"""Keyword filters: case-insensitive words and phrases in any script, never a regex engine.

A filter is a word or a phrase; a trailing `*` makes its last word a prefix
("мобилизац*" matches "мобилизации"). Matching is linear in the text: user input
is escaped, so no filter can make the process hang.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_KEYWORD_LEN = 64
MAX_KEYWORDS = 20


def normalize(text: str) -> str:
    # ё and е are one letter to most Russian readers; spacing is not meaning.
    return " ".join(text.casefold().replace("ё", "е").split())


def clean_keyword(raw: str) -> str | None:
    """A keyword as stored, or None when it is empty or too long."""
    word = normalize(raw.strip().strip("\"'«»"))
    if not word or word == "*" or len(word) > MAX_KEYWORD_LEN:
        return None
    return word


@lru_cache(maxsize=4096)
def _pattern(keyword: str) -> re.Pattern[str]:
    prefix = keyword.endswith("*")
    body = keyword.rstrip("*")
    parts = [re.escape(p) for p in body.split()]
    tail = "" if prefix else r"(?!\w)"
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + tail)


def matches(keywords: list[str], text: str) -> bool:
    """True when there are no filters or any of them occurs in the text."""
    if not keywords:
        return True
    haystack = normalize(text)
    return any(_pattern(k).search(haystack) for k in keywords)
