"""Word-level diff of two texts, and its rendering as Telegram HTML.

``word_diff`` compares word tokens (whitespace and punctuation are tokens too, so
the pieces concatenate back to the inputs). ``diff_html`` shows deleted words
struck through (``<s>``) and inserted words in bold (``<b>``), escapes all text,
and collapses long unchanged stretches to "…" with a little context so that the
result fits in a given visible length.
"""

from __future__ import annotations

import html
import re
from difflib import SequenceMatcher
from typing import Literal

from bot.textsplit import split_text, utf16_len

__all__ = ["DELETE_TAG", "INSERT_TAG", "Op", "diff_html", "tokenize", "word_diff"]

Op = Literal["equal", "insert", "delete"]

DELETE_TAG = "s"
INSERT_TAG = "b"
ELLIPSIS = "…"
GAP = " … "

_TOKEN_RE = re.compile(r"\s+|\w+(?:['’-]\w+)*|[^\w\s]")
# Below this size SequenceMatcher is fast enough; above it the texts are compared
# as lines first.
_MAX_TOKEN_PRODUCT = 2_500_000


def tokenize(text: str) -> list[str]:
    """Words, whitespace runs and single punctuation marks; ``"".join`` gives ``text``."""
    return _TOKEN_RE.findall(text)


def _opcodes(a: list[str], b: list[str]) -> list[tuple[Op, str]]:
    ops: list[tuple[Op, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            ops.append(("delete", "".join(a[i1:i2])))
        if j2 > j1:
            ops.append(("insert", "".join(b[j1:j2])))
    return ops


def _coarse_then_fine(before: str, after: str) -> list[tuple[Op, str]]:
    """Diff very long texts line by line, then word by word inside changed blocks."""
    a_lines = before.splitlines(keepends=True)
    b_lines = after.splitlines(keepends=True)
    ops: list[tuple[Op, str]] = []
    matcher = SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = "".join(a_lines[i1:i2]), "".join(b_lines[j1:j2])
        if tag == "equal":
            ops.append(("equal", old))
            continue
        ta, tb = tokenize(old), tokenize(new)
        if ta and tb and len(ta) * len(tb) <= _MAX_TOKEN_PRODUCT:
            ops.extend(_opcodes(ta, tb))
        else:
            if old:
                ops.append(("delete", old))
            if new:
                ops.append(("insert", new))
    return ops


def _merge(ops: list[tuple[Op, str]]) -> list[tuple[Op, str]]:
    """Absorb whitespace-only equal runs between changes; group deletes before inserts."""
    cleaned: list[tuple[Op, str]] = []
    for k, (op, text) in enumerate(ops):
        if (
            op == "equal"
            and text.isspace()
            and 0 < k < len(ops) - 1
            and ops[k - 1][0] != "equal"
            and ops[k + 1][0] != "equal"
        ):
            cleaned.append(("delete", text))
            cleaned.append(("insert", text))
        elif text:
            cleaned.append((op, text))
    merged: list[tuple[Op, str]] = []
    block_del: list[str] = []
    block_ins: list[str] = []

    def flush() -> None:
        if block_del:
            merged.append(("delete", "".join(block_del)))
            block_del.clear()
        if block_ins:
            merged.append(("insert", "".join(block_ins)))
            block_ins.clear()

    for op, text in cleaned:
        if op == "delete":
            block_del.append(text)
        elif op == "insert":
            block_ins.append(text)
        else:
            flush()
            if merged and merged[-1][0] == "equal":
                merged[-1] = ("equal", merged[-1][1] + text)
            else:
                merged.append(("equal", text))
    flush()
    return merged


def word_diff(before: str, after: str) -> list[tuple[Op, str]]:
    """Diff ``before`` → ``after`` by words.

    Returns ``(op, text)`` pairs; joining the "equal" and "delete" texts gives
    ``before``, joining "equal" and "insert" gives ``after``. Changes in one place
    are grouped as one delete followed by one insert.
    """
    if before == after:
        return [("equal", before)] if before else []
    a, b = tokenize(before), tokenize(after)
    # Trim the common prefix and suffix: cheap, and most edits are local.
    prefix = 0
    while prefix < len(a) and prefix < len(b) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < len(a) - prefix and suffix < len(b) - prefix and a[-1 - suffix] == b[-1 - suffix]
    ):
        suffix += 1
    head: list[tuple[Op, str]] = [("equal", "".join(a[:prefix]))] if prefix else []
    tail: list[tuple[Op, str]] = [("equal", "".join(a[len(a) - suffix :]))] if suffix else []
    mid_a, mid_b = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if len(mid_a) * len(mid_b) <= _MAX_TOKEN_PRODUCT:
        middle = _opcodes(mid_a, mid_b)
    else:
        middle = _coarse_then_fine("".join(mid_a), "".join(mid_b))
    return _merge([*head, *middle, *tail])


# --------------------------------------------------------------------------- HTML


def _head(text: str, n: int) -> str:
    """About ``n`` UTF-16 units from the start of ``text``, ending at a word boundary."""
    if n <= 0:
        return ""
    return split_text(text, max(n, 2))[0]


def _tail(text: str, n: int) -> str:
    if n <= 0:
        return ""
    return _head(text[::-1], n)[::-1]


def _collapse(ops: list[tuple[Op, str]], context: int) -> list[tuple[Op, str]]:
    """Replace the middle of long equal runs by an ellipsis, keeping ``context`` around."""
    out: list[tuple[Op, str]] = []
    last = len(ops) - 1
    for k, (op, text) in enumerate(ops):
        if op != "equal":
            out.append((op, text))
            continue
        size = utf16_len(text)
        if k == 0 and k != last:
            if size > context + len(ELLIPSIS):
                text = ELLIPSIS + _tail(text, context).lstrip()
        elif k == last and k != 0:
            if size > context + len(ELLIPSIS):
                text = _head(text, context).rstrip() + ELLIPSIS
        elif k not in (0, last) and size > 2 * context + len(GAP):
            left = _head(text, context).rstrip()
            right = _tail(text, context).lstrip()
            text = left + GAP + right if (left or right) else ELLIPSIS
        out.append((op, text))
    return out


def _plain_len(ops: list[tuple[Op, str]]) -> int:
    return sum(utf16_len(text) for _, text in ops)


def _truncate_ops(ops: list[tuple[Op, str]], max_len: int) -> list[tuple[Op, str]]:
    budget = max_len - len(ELLIPSIS)
    out: list[tuple[Op, str]] = []
    for op, text in ops:
        size = utf16_len(text)
        if size <= budget:
            out.append((op, text))
            budget -= size
            continue
        if budget >= 2:
            piece = split_text(text, budget)[0]
            out.append((op, piece))
        out.append(("equal", ELLIPSIS))
        break
    return out


def _to_html(ops: list[tuple[Op, str]]) -> str:
    parts: list[str] = []
    for op, text in ops:
        escaped = html.escape(text, quote=True)
        if op == "delete":
            parts.append(f"<{DELETE_TAG}>{escaped}</{DELETE_TAG}>")
        elif op == "insert":
            parts.append(f"<{INSERT_TAG}>{escaped}</{INSERT_TAG}>")
        else:
            parts.append(escaped)
    return "".join(parts)


def diff_html(before: str, after: str, max_len: int = 3000, context: int = 80) -> str:
    """HTML showing how ``before`` became ``after``, at most ``max_len`` visible units.

    Deleted text is ``<s>``, inserted text ``<b>``; everything is escaped. Long
    unchanged stretches become "…" with up to ``context`` units kept on each side
    of a change; if the changes themselves do not fit, the tail is cut off with
    "…".
    """
    if max_len < 1:
        raise ValueError("max_len must be positive")
    ops = word_diff(before, after)
    if not ops:
        return ""
    candidates = [_collapse(ops, ctx) for ctx in (context, context // 2, 15, 0)]
    for candidate in candidates:
        if _plain_len(candidate) <= max_len:
            return _to_html(candidate)
    return _to_html(_truncate_ops(candidates[-1], max_len))
