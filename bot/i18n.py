"""Localization for the bot, backed by Fluent catalogs.

Catalogs live in ``bot/locales/<lang>/*.ftl``; no user-facing wording is kept
in code. A :class:`Translator` is built once by the composition root
(``Translator.load()``) and passed to whoever formats text.

Rules for callers:

* Catalog messages are HTML-safe text (they contain no ``<``, ``>`` or bare ``&``),
  but the **values** substituted into them are inserted verbatim. Anything that ends
  up in an HTML message must be escaped by the caller (``bot.render`` does this).
* Fluent's bidi isolation marks (U+2068/U+2069 around placeables) are disabled:
  they would show up inside Telegram messages and break links and mentions.
* A key missing from the requested language falls back to the default language;
  a key missing everywhere returns the key itself (and is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fluent.runtime import FluentBundle
from fluent.syntax import FluentParser
from fluent.syntax import ast as ftl
from fluent.syntax.visitor import Visitor

__all__ = ["DEFAULT_LOCALES_DIR", "Translator"]

log = logging.getLogger(__name__)

DEFAULT_LOCALES_DIR = Path(__file__).resolve().parent / "locales"

# Telegram users whose client speaks one of these languages get the Russian
# interface when there is no catalog for their own language.
_RUSSIAN_FALLBACK = frozenset({"be", "uk", "kk"})


class _VariableCollector(Visitor):
    """Collects ``$variables``, following references to other messages (which share
    the caller's arguments)."""

    def __init__(self, messages: Mapping[str, ftl.Message]) -> None:
        self.names: set[str] = set()
        self._messages = messages
        self._seen: set[str] = set()

    def visit_VariableReference(self, node: ftl.VariableReference) -> None:
        self.names.add(node.id.name)
        self.generic_visit(node)

    def visit_MessageReference(self, node: ftl.MessageReference) -> None:
        name = node.id.name
        if name not in self._seen and name in self._messages:
            self._seen.add(name)
            self.visit(self._messages[name])
        self.generic_visit(node)


def _parse_catalog(path: Path) -> dict[str, ftl.Message]:
    source = path.read_text(encoding="utf-8")
    resource = FluentParser().parse(source)
    messages: dict[str, ftl.Message] = {}
    problems: list[str] = []
    for entry in resource.body:
        if isinstance(entry, ftl.Junk):
            notes = "; ".join(a.message for a in entry.annotations if a.message) or "syntax error"
            problems.append(f"{notes}: {(entry.content or '').strip()[:80]!r}")
        elif isinstance(entry, ftl.Message):
            if entry.id.name in messages:
                problems.append(f"duplicate message {entry.id.name!r}")
            messages[entry.id.name] = entry
    if problems:
        raise ValueError(f"{path}: " + " | ".join(problems))
    return messages


class Translator:
    """Formats catalog messages for the languages found on disk."""

    def __init__(
        self,
        bundles: Mapping[str, FluentBundle],
        messages: Mapping[str, Mapping[str, ftl.Message]],
        default: str = "en",
    ) -> None:
        if default not in bundles:
            raise ValueError(f"default language {default!r} has no catalog")
        self._bundles = dict(bundles)
        self._messages = {lang: dict(msgs) for lang, msgs in messages.items()}
        self._default = default
        others = sorted(lang for lang in self._bundles if lang != default)
        self._languages: tuple[str, ...] = (default, *others)

    @classmethod
    def load(cls, locales_dir: Path | None = None, default: str = "en") -> Translator:
        """Read every ``<locales_dir>/<lang>/*.ftl`` (one catalog per concern: alerts, bot, digest).

        Raises ``ValueError`` on a syntax error or a key defined twice (also across
        files), so a broken catalog stops the process at start-up instead of at the
        first alert.
        """
        root = Path(locales_dir) if locales_dir is not None else DEFAULT_LOCALES_DIR
        bundles: dict[str, FluentBundle] = {}
        messages: dict[str, dict[str, ftl.Message]] = {}
        for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            catalogs = sorted(lang_dir.glob("*.ftl"))
            if not catalogs:
                continue
            lang = lang_dir.name
            parsed: dict[str, ftl.Message] = {}
            for catalog in catalogs:
                for key, message in _parse_catalog(catalog).items():
                    if key in parsed:
                        raise ValueError(f"{catalog}: message {key!r} is defined twice")
                    parsed[key] = message
            bundle = FluentBundle([lang], use_isolating=False)
            bundle.add_resource(ftl.Resource(body=list(parsed.values())))
            bundles[lang] = bundle
            messages[lang] = parsed
        if not bundles:
            raise ValueError(f"no .ftl catalogs under {root}")
        return cls(bundles, messages, default=default)

    @property
    def default(self) -> str:
        return self._default

    @property
    def languages(self) -> tuple[str, ...]:
        """Available languages, the default first."""
        return self._languages

    def pick(self, language_code: str | None) -> str:
        """Map a Telegram ``language_code`` ("ru", "ru-RU", "uk", None…) to a catalog."""
        if not language_code:
            return self._default
        primary = language_code.strip().replace("_", "-").split("-", 1)[0].lower()
        if primary in self._bundles:
            return primary
        if primary in _RUSSIAN_FALLBACK and "ru" in self._bundles:
            return "ru"
        return self._default

    def keys(self, lang: str) -> frozenset[str]:
        """Message ids defined in ``lang``'s catalog."""
        return frozenset(self._messages.get(lang, {}))

    def variables(self, lang: str, key: str) -> frozenset[str]:
        """Names of the ``$variables`` that ``key`` uses in ``lang`` (directly or
        through the messages it references)."""
        messages = self._messages[lang]
        collector = _VariableCollector(messages)
        collector.visit(messages[key])
        return frozenset(collector.names)

    def has(self, lang: str, key: str) -> bool:
        return key in self._messages.get(lang, {})

    def get(self, lang: str, key: str, /, **args: Any) -> str:
        """Format ``key`` in ``lang`` (falling back to the default language).

        Values in ``args`` are substituted verbatim: escape them first when the
        result goes into an HTML message. Keep each value short (Fluent refuses a
        single string value over 2500 characters and renders "{???}" instead);
        long texts belong next to the message, not inside it.
        """
        candidates = [lang, self._default] if lang != self._default else [lang]
        for candidate in candidates:
            bundle = self._bundles.get(candidate)
            if bundle is None or not bundle.has_message(key):
                continue
            message = bundle.get_message(key)
            if message.value is None:
                continue
            text, errors = bundle.format_pattern(message.value, args)
            if errors:
                log.warning("i18n %s/%s: %s", candidate, key, errors)
            if candidate != lang:
                log.debug("i18n: %r missing in %r, used %r", key, lang, candidate)
            return str(text)
        log.error("i18n: no message %r in any catalog", key)
        return key
