"""What a moderator may type to name a channel, and what it means."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Telegram usernames: 5-32 characters, a letter first, letters, digits and underscores.
USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]$")
_TME_HOSTS = {"t.me", "telegram.me", "telegram.dog", "www.t.me"}


class HandleError(ValueError):
    """The text names no public channel; `code` is a catalog key suffix."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text!r}")
        self.code = code
        self.text = text


@dataclass(frozen=True)
class Handle:
    username: str | None = None
    tg_id: int | None = None

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else str(self.tg_id)


def parse_handle(text: str) -> Handle:
    raw = text.strip()
    if not raw:
        raise HandleError("empty", text)
    if len(raw) > 256:
        raise HandleError("invalid", raw[:64])
    if re.fullmatch(r"-?\d{1,20}", raw):
        number = int(raw)
        # Bot API style ids of channels are -100<id>; MTProto ids are positive.
        if raw.startswith("-100"):
            number = int(raw[4:]) if len(raw) > 4 else 0
        elif number < 0:
            raise HandleError("not_channel", raw)
        if number <= 0:
            raise HandleError("invalid", raw)
        return Handle(tg_id=number)
    if raw.startswith("@"):
        return _username(raw[1:], raw)
    candidate = raw if "://" in raw else "https://" + raw
    try:
        parts = urlsplit(candidate)
    except ValueError:  # e.g. "a[b": urlsplit reads brackets as an IPv6 host
        raise HandleError("invalid", raw) from None
    host = (parts.hostname or "").lower()
    if host in _TME_HOSTS:
        segments = [s for s in parts.path.split("/") if s]
        if segments and segments[0] == "s":
            segments = segments[1:]
        if not segments:
            raise HandleError("invalid", raw)
        first = segments[0]
        if first.startswith("+") or first == "joinchat":
            raise HandleError("private_link", raw)
        if first == "c":
            # t.me/c/<id>/<post> links address channels by id, seen only by members.
            if len(segments) > 1 and segments[1].isdigit():
                return Handle(tg_id=int(segments[1]))
            raise HandleError("invalid", raw)
        return _username(first, raw)
    if "/" not in raw and "." not in raw:
        return _username(raw, raw)
    raise HandleError("invalid", raw)


def _username(name: str, raw: str) -> Handle:
    if not USERNAME.match(name) or "__" in name:
        raise HandleError("invalid", raw)
    return Handle(username=name)
