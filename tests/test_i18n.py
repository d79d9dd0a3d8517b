"""Fluent catalogs: both languages complete and consistent, fallback, language choice."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.i18n import Translator

NUMERIC_VARS = {"count", "before", "after", "pct", "hours", "part", "total"}


@pytest.fixture(scope="module")
def t() -> Translator:
    return Translator.load()


def sample_args(names: frozenset[str]) -> dict[str, object]:
    args: dict[str, object] = {}
    for name in names:
        if name == "date":
            args[name] = datetime(2024, 1, 5, 14, 30, tzinfo=UTC)
        elif name in NUMERIC_VARS:
            args[name] = 3
        else:
            args[name] = f"VALUE-{name}"
    return args


def test_languages(t: Translator) -> None:
    assert t.languages == ("en", "ru")
    assert t.default == "en"


def test_same_keys_in_both_languages(t: Translator) -> None:
    assert t.keys("en") == t.keys("ru")
    assert len(t.keys("en")) > 30


def test_same_variables_in_both_languages(t: Translator) -> None:
    for key in sorted(t.keys("en")):
        assert t.variables("en", key) == t.variables("ru", key), key


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_message_formats_cleanly(t: Translator, lang: str) -> None:
    for key in sorted(t.keys(lang)):
        names = t.variables(lang, key)
        text = t.get(lang, key, **sample_args(names))
        assert text and text != key, key
        # no unresolved placeables, no bidi isolation marks
        assert "{" not in text and "}" not in text, (key, text)
        assert "\u2068" not in text and "\u2069" not in text, key
        # catalog text is HTML-safe: values are the only thing callers escape
        without_values = text
        for value in sample_args(names).values():
            if isinstance(value, str):
                without_values = without_values.replace(value, "")
        assert not re.search(r"[<>]|&(?!amp;|lt;|gt;|quot;)", without_values), (key, text)


def test_values_are_inserted_verbatim_and_without_isolation(t: Translator) -> None:
    out = t.get("en", "ev-channel-available", channel="<a href='x'>X</a>")
    assert out == "✅ <a href='x'>X</a> can be reached again"


def test_plurals_and_numbers(t: Translator) -> None:
    assert t.get("en", "media-album", count=1) == "🖼 Album of 1 item"
    assert t.get("en", "media-album", count=3) == "🖼 Album of 3 items"
    assert t.get("ru", "media-album", count=1) == "🖼 Альбом: 1 файл"
    assert t.get("ru", "media-album", count=3) == "🖼 Альбом: 3 файла"
    assert t.get("ru", "media-album", count=5) == "🖼 Альбом: 5 файлов"
    assert t.get("ru", "media-album", count=21) == "🖼 Альбом: 21 файл"
    args = {"channel": "C", "direction": "up", "sign": "+", "pct": 24.0, "hours": 6.0}
    en = t.get("en", "ev-channel-subscribers-jump", before=50000, after=62000, **args)
    ru = t.get("ru", "ev-channel-subscribers-jump", before=50000, after=62000, **args)
    assert "50,000 → 62,000 (+24%) in 6 h" in en
    assert "50\xa0000 → 62\xa0000 (+24 %) за 6 ч" in ru


def test_label_wording(t: Translator) -> None:
    assert t.get("en", "ev-label-added", label="fake", name="", channel="X") == (
        "⚠️ Telegram marked X as FAKE"
    )
    assert t.get("ru", "ev-label-added", label="fake", name="", channel="X") == (
        "⚠️ Telegram пометил канал X как FAKE (фейк)"
    )
    assert t.get("en", "platform", platform="ios") == "iOS"
    assert t.get("en", "platform", platform="smart-fridge") == "smart-fridge"


def write_catalogs(root: Path, catalogs: dict[str, str]) -> Path:
    for lang, text in catalogs.items():
        (root / lang).mkdir(parents=True)
        (root / lang / "chanwatch.ftl").write_text(text, encoding="utf-8")
    return root


def test_missing_key_falls_back_to_english(tmp_path: Path) -> None:
    root = write_catalogs(
        tmp_path,
        {
            "en": "hello = Hello, { $name }\nonly-en = English only\n",
            "ru": "hello = Привет, { $name }\n",
        },
    )
    t = Translator.load(root)
    assert t.get("ru", "hello", name="Аня") == "Привет, Аня"
    assert t.get("ru", "only-en") == "English only"
    assert t.get("de", "hello", name="X") == "Hello, X"
    assert t.get("ru", "nowhere") == "nowhere"


def test_broken_catalog_is_refused(tmp_path: Path) -> None:
    root = write_catalogs(tmp_path, {"en": "good = ok\nbad = { $oops\n"})
    with pytest.raises(ValueError, match=r"chanwatch\.ftl"):
        Translator.load(root)


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    root = write_catalogs(tmp_path, {"en": "a = one\na = two\n"})
    with pytest.raises(ValueError, match="duplicate"):
        Translator.load(root)


def test_default_must_exist(tmp_path: Path) -> None:
    root = write_catalogs(tmp_path, {"ru": "a = один\n"})
    with pytest.raises(ValueError):
        Translator.load(root)
    assert Translator.load(root, default="ru").languages == ("ru",)


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("RU", "ru"),
        ("ru_RU", "ru"),
        ("be", "ru"),
        ("uk", "ru"),
        ("kk", "ru"),
        ("en", "en"),
        ("en-US", "en"),
        ("de", "en"),
        ("pt-br", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_pick(t: Translator, code: str | None, lang: str) -> None:
    assert t.pick(code) == lang
