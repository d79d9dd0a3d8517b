"""Measuring and splitting text the way Telegram counts it (UTF-16, after entities)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.textsplit import (
    split_html,
    split_text,
    truncate,
    utf16_len,
    visible_len,
    visible_text,
)
from bot.worddiff import diff_html, tokenize, word_diff
from tests.renderkit import assert_telegram_html

FAMILY = "👨‍👩‍👧‍👦"  # 7 code points, 11 UTF-16 units
FLAG = "🇺🇦"


def test_utf16_len() -> None:
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("ёжик") == 4
    assert utf16_len("😀") == 2
    assert utf16_len(FAMILY) == 11
    assert utf16_len(FLAG) == 4


def test_visible_text_and_len() -> None:
    markup = '<a href="https://t.me/x?a=1&amp;b=2">A &amp; B</a> &lt;b&gt; &quot;q&quot; &#x27;'
    assert visible_text(markup) == 'A & B <b> "q" \''
    assert visible_len(markup) == len('A & B <b> "q" \'')
    assert visible_text("&#128512;&#x1F600;") == "😀😀"
    assert visible_len("&#128512;") == 2
    assert visible_len("<blockquote>\n</blockquote>") == 1
    assert visible_len(html.escape("<script>&</script>")) == len("<script>&</script>")


# --------------------------------------------------------------------------- split_text


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello", 10) == ["hello"]
    assert split_text("", 10) == []


def test_prefers_paragraphs_then_lines_then_sentences_then_words() -> None:
    para = "First paragraph here.\n\nSecond paragraph is here."
    assert split_text(para, 30) == ["First paragraph here.\n\n", "Second paragraph is here."]
    lines = "line one is here\nline two is here"
    assert split_text(lines, 20) == ["line one is here\n", "line two is here"]
    sentences = "One sentence. Two sentences here"
    assert split_text(sentences, 20) == ["One sentence. ", "Two sentences here"]
    words = "alpha beta gamma delta"
    assert split_text(words, 13) == ["alpha beta ", "gamma delta"]


def test_hard_cut_of_one_long_word() -> None:
    chunks = split_text("x" * 25, 10)
    assert chunks == ["x" * 10, "x" * 10, "x" * 5]


def test_limit_counts_utf16_units() -> None:
    chunks = split_text("😀" * 10, 5)
    assert all(utf16_len(c) <= 5 for c in chunks)
    assert chunks[0] == "😀😀"
    assert "".join(chunks) == "😀" * 10


def test_emoji_sequences_stay_whole() -> None:
    text = (FAMILY + FLAG) * 50
    chunks = split_text(text, 40)
    assert "".join(chunks) == text
    for chunk in chunks:
        assert utf16_len(chunk) <= 40
        # each chunk is made of whole families and whole flags
        assert re.fullmatch(f"(?:{FAMILY}|{FLAG})+", chunk), chunk


def test_combining_marks_stay_with_their_letter() -> None:
    text = "е\u0301" * 30  # е + combining acute
    for chunk in split_text(text, 7):
        assert not chunk.startswith("\u0301")


def test_first_limit() -> None:
    chunks = split_text("word " * 100, 100, first_limit=20)
    assert utf16_len(chunks[0]) <= 20
    assert all(utf16_len(c) <= 100 for c in chunks[1:])
    assert "".join(chunks) == "word " * 100


def test_limit_too_small() -> None:
    with pytest.raises(ValueError):
        split_text("abc", 1)
    with pytest.raises(ValueError):
        split_text("abc", 10, first_limit=0)


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("one two three four five", 12)
    assert cut == "one two…"
    assert utf16_len(truncate("😀" * 100, 11)) <= 11


def test_twenty_thousand_chars() -> None:
    text = ("Абзац про войну и мобилизацию. " * 20 + "\n\n") * 33
    chunks = split_text(text, 4096)
    assert "".join(chunks) == text
    assert all(utf16_len(c) <= 4096 for c in chunks)
    assert len(chunks) <= -(-utf16_len(text) // 4096) + 1
    assert all(c.endswith("\n\n") for c in chunks[:-1])


texts = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from([" ", "\n", "\n\n", ". ", "😀", FAMILY, FLAG, "\u0301", "\u200d", "\r\n"]),
    ),
    max_size=400,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=texts, limit=st.integers(2, 200), first=st.one_of(st.none(), st.integers(2, 200)))
def test_split_text_properties(text: str, limit: int, first: int | None) -> None:
    chunks = split_text(text, limit, first_limit=first)
    assert "".join(chunks) == text
    assert all(chunks)
    for i, chunk in enumerate(chunks):
        assert utf16_len(chunk) <= (first if (i == 0 and first) else limit)


# --------------------------------------------------------------------------- split_html


def test_split_html_packs_items() -> None:
    items = ["<b>aaaa</b>", "bbbb", "&amp;&amp;", "cccc"]
    assert split_html(items, 9) == ["<b>aaaa</b>\nbbbb", "&amp;&amp;\ncccc"]
    assert split_html(items, 100) == ["\n".join(items)]
    assert split_html([], 10) == []


def test_split_html_item_too_long_keeps_tags_and_entities() -> None:
    item = "<b>bold &amp; words " + "<i>more text &lt;here&gt; </i>" * 20 + "</b>"
    messages = split_html([item], 50)
    assert len(messages) > 1
    for message in messages:
        assert visible_len(message) <= 50
        assert_telegram_html(message)
        assert message.startswith("<b>")
    assert "".join(visible_text(m) for m in messages) == visible_text(item)


def test_split_html_link_is_reopened() -> None:
    item = '<a href="https://t.me/x">' + "word " * 30 + "</a>"
    messages = split_html([item], 40)
    for message in messages:
        assert message.startswith('<a href="https://t.me/x">')
        assert message.endswith("</a>")


escaped_text = texts.map(lambda s: html.escape(s.replace("\n", " "), quote=True))
items = st.lists(
    st.one_of(
        escaped_text,
        escaped_text.map(lambda s: f"<b>{s}</b>"),
        st.tuples(escaped_text, escaped_text).map(lambda p: f"<s>{p[0]}</s><u>x{p[1]}</u>"),
        st.tuples(escaped_text, escaped_text).map(
            lambda p: f'<blockquote>{p[0]}<a href="https://t.me/c/1/2">{p[1]}</a></blockquote>'
        ),
    ).filter(lambda s: visible_text(s).strip()),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(parts=items, limit=st.integers(2, 300))
def test_split_html_properties(parts: list[str], limit: int) -> None:
    messages = split_html(parts, limit)
    for message in messages:
        assert visible_len(message) <= limit
        if visible_text(message).strip():
            assert_telegram_html(message)
    got = "".join(visible_text(m).replace("\n", "") for m in messages)
    assert got == "".join(visible_text(p) for p in parts)


# --------------------------------------------------------------------------- word diff


def test_tokenize_round_trip() -> None:
    text = "Мы — жёны, матери!  Вернуть 100% мужей\nдомой."
    assert "".join(tokenize(text)) == text
    assert "жёны" in tokenize(text)


def test_word_diff_marks_changes() -> None:
    ops = word_diff("Верните мужей домой", "Верните наших мужей домой сейчас")
    assert ("insert", "наших ") in ops or ("insert", " наших") in ops
    assert ops[-1] == ("insert", " сейчас")
    before = "".join(t for op, t in ops if op != "insert")
    after = "".join(t for op, t in ops if op != "delete")
    assert before == "Верните мужей домой"
    assert after == "Верните наших мужей домой сейчас"


@settings(max_examples=200, deadline=None)
@given(a=texts, b=texts)
def test_word_diff_reconstructs(a: str, b: str) -> None:
    ops = word_diff(a, b)
    assert "".join(t for op, t in ops if op != "insert") == a
    assert "".join(t for op, t in ops if op != "delete") == b
    assert all(t for _, t in ops)


def test_diff_html_tags_and_escaping() -> None:
    out = diff_html("a <b> & c", "a <i> & c")
    assert_telegram_html(out)
    assert "<s>b</s>" in out and "<b>i</b>" in out
    assert "&lt;" in out and "&amp;" in out


def test_diff_html_collapses_unchanged_stretches() -> None:
    filler = "неизменный текст " * 200
    out = diff_html(filler + "старое " + filler, filler + "новое " + filler, max_len=500)
    assert "<s>старое</s>" in out and "<b>новое</b>" in out
    assert "…" in out
    assert visible_len(out) <= 500
    assert visible_len(out) < 400


@settings(max_examples=200, deadline=None)
@given(a=texts, b=texts, max_len=st.integers(1, 300))
def test_diff_html_fits(a: str, b: str, max_len: int) -> None:
    out = diff_html(a, b, max_len=max_len)
    assert visible_len(out) <= max_len
    if visible_text(out).strip():
        assert_telegram_html(out)
