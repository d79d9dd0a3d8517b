"""What a post shows besides its text: formatting entities and files with their bytes.

Entities are kept as plain dicts (``{"type": "texturl", "offset": 0, "length": 4,
"url": ...}``) so that they travel over the control connection as JSON; ``tl_entity``
turns one into Telethon's own ``MessageEntity*`` object. Offsets and lengths count UTF-16
code units, as Telegram's do.

A ``Media`` is one Telegram photo or document: its id, access hash, file reference, its
main bytes and its thumbnails. Bytes are either given by the script or made up
deterministically from the file id, 4 KiB block by block, so a 2 GB video costs nothing
until someone downloads it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from telethon.tl import types
from telethon.tl.tlobject import TLObject

# Telegram serves files in 4 KiB-aligned parts (https://core.telegram.org/api/files).
BLOCK = 4096
JSON_SHA256_MAX = 256 * 1024 * 1024

# "texturl" -> MessageEntityTextUrl, "mentionname" -> MessageEntityMentionName, ...
ENTITY_TYPES: dict[str, type] = {
    name.removeprefix("MessageEntity").lower(): getattr(types, name)
    for name in dir(types)
    if name.startswith("MessageEntity") and name != "MessageEntity"
}


class WorldError(Exception):
    """A script asked for something impossible (unknown channel, taken username, an entity
    outside the text...)."""


ContentError = WorldError


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entity_type(name: str) -> str:
    key = name.lower().replace("_", "").removeprefix("messageentity")
    if key not in ENTITY_TYPES:
        raise ContentError(
            f"unknown entity type {name!r} (one of {', '.join(sorted(ENTITY_TYPES))})"
        )
    return key


def normalize_entity(spec: Any, text: str) -> dict[str, Any]:
    """One entity as a dict, checked against ``text``.

    ``spec``: a Telethon ``MessageEntity*`` object, or a dict with ``type`` and either
    ``offset``/``length`` (UTF-16 units) or ``part`` (the first occurrence of that substring;
    ``occurrence`` picks a later one), plus the type's own fields (``url``, ``user_id``,
    ``language``, ``document_id``, ``collapsed``)."""
    if isinstance(spec, TLObject) and type(spec).__name__.startswith("MessageEntity"):
        raw = spec.to_dict()
        kind = str(raw.pop("_"))
        spec = {"type": kind, **raw}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ContentError(f"an entity is a MessageEntity or a dict with a 'type': {spec!r}")
    out = dict(spec)
    out["type"] = entity_type(str(out["type"]))
    part = out.pop("part", None)
    occurrence = int(out.pop("occurrence", 1))
    if part is not None:
        index = -1
        for _ in range(max(1, occurrence)):
            index = text.find(part, index + 1)
            if index < 0:
                raise ContentError(f"entity part {part!r} is not in the text")
        out["offset"] = utf16_len(text[:index])
        out["length"] = utf16_len(part)
    try:
        offset, length = int(out["offset"]), int(out["length"])
    except (KeyError, TypeError, ValueError):
        raise ContentError(f"entity needs offset and length (or part): {spec!r}") from None
    if offset < 0 or length <= 0 or offset + length > utf16_len(text):
        raise ContentError(
            f"entity {out['type']} at {offset}+{length} does not fit a text of "
            f"{utf16_len(text)} UTF-16 units"
        )
    out["offset"], out["length"] = offset, length
    tl_entity(out)  # fails now, not when a client reads the message
    return out


def normalize_entities(specs: Any, text: str) -> list[dict[str, Any]]:
    if not specs:
        return []
    return [normalize_entity(s, text) for s in specs]


def tl_entity(spec: dict[str, Any]) -> Any:
    cls = ENTITY_TYPES[spec["type"]]
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ContentError(f"entity {spec['type']}: {e}") from None


def filler(seed: str, offset: int, length: int) -> bytes:
    """Bytes ``offset .. offset+length`` of a deterministic stream named ``seed``."""
    if length <= 0:
        return b""
    first, last = offset // BLOCK, (offset + length - 1) // BLOCK
    blob = b"".join(
        hashlib.shake_256(f"{seed}:{i}".encode()).digest(BLOCK) for i in range(first, last + 1)
    )
    start = offset - first * BLOCK
    return blob[start : start + length]


@dataclass
class FilePart:
    """Bytes held by the world: given by the script, or ``size`` deterministic ones."""

    seed: str
    size: int
    data: bytes | None = None
    _sha256: str | None = field(default=None, repr=False, compare=False)

    def read(self, offset: int, limit: int) -> bytes:
        end = min(self.size, offset + limit)
        if offset >= end:
            return b""
        if self.data is not None:
            return self.data[offset:end]
        return filler(self.seed, offset, end - offset)

    def chunks(self, step: int = 1024 * 1024) -> Iterator[bytes]:
        for offset in range(0, self.size, step):
            yield self.read(offset, step)

    def content(self) -> bytes:
        return self.data if self.data is not None else b"".join(self.chunks())

    def sha256(self) -> str:
        if self._sha256 is None:  # the bytes never change
            digest = hashlib.sha256()
            for chunk in self.chunks():
                digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256


@dataclass
class Thumb:
    """A photo size or a document thumbnail: Telegram's ``type`` letter and its box."""

    type: str
    w: int
    h: int
    file: FilePart

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "w": self.w,
            "h": self.h,
            "size": self.file.size,
            "sha256": self.file.sha256(),
        }


# Kinds the world can post: kind -> (MIME type, file name, size of made-up bytes).
MEDIA_KINDS: dict[str, tuple[str, str | None, int]] = {
    "photo": ("image/jpeg", None, 2048),
    "video": ("video/mp4", "video.mp4", 8192),
    "round": ("video/mp4", None, 8192),
    "gif": ("video/mp4", "animation.gif.mp4", 4096),
    "audio": ("audio/mpeg", "audio.mp3", 8192),
    "voice": ("audio/ogg", None, 4096),
    "sticker": ("image/webp", "sticker.webp", 4096),
    "document": ("application/pdf", "document.pdf", 4096),
}


@dataclass
class Media:
    """One Telegram photo or document (``kind`` says which flavour)."""

    kind: str  # photo | video | round | gif | audio | voice | sticker | document
    id: int
    access_hash: int
    date: _dt.datetime
    size: int
    mime_type: str
    file_name: str | None = None
    w: int = 1280
    h: int = 720
    duration: float = 15.0
    file: FilePart | None = None
    thumbs: list[Thumb] = field(default_factory=list)
    file_reference: bytes = b"\x01sim"
    expired_references: list[bytes] = field(default_factory=list)
    title: str | None = None
    performer: str | None = None
    emoji: str | None = None

    def __post_init__(self) -> None:
        if self.file is None:
            self.file = FilePart(f"file:{self.id}", self.size)

    @property
    def is_photo(self) -> bool:
        return self.kind == "photo"

    @property
    def main_type(self) -> str:
        """A photo's largest size letter (by Telegram's boxes: x 800, y 1280, w 2560)."""
        side = max(self.w, self.h)
        return "x" if side <= 800 else "y" if side <= 1280 else "w"

    def part(self, thumb_size: str) -> FilePart | None:
        """The bytes a download location names ('' = a document's main file)."""
        assert self.file is not None
        if self.is_photo and thumb_size == self.main_type:
            return self.file
        if not self.is_photo and thumb_size == "":
            return self.file
        for t in self.thumbs:
            if t.type == thumb_size and t.type != "i":  # stripped sizes travel inline
                return t.file
        return None

    def content(self) -> bytes:
        assert self.file is not None
        return self.file.content()

    def sha256(self) -> str:
        assert self.file is not None
        return self.file.sha256()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "access_hash": self.access_hash,
            "size": self.size,
            "mime_type": self.mime_type,
            "file_name": self.file_name,
            "w": self.w,
            "h": self.h,
            "duration": self.duration,
            # Hashing a multi-GB made-up file would stall the world: ask media_sha256.
            "sha256": self.sha256() if self.size <= JSON_SHA256_MAX else None,
            "thumbs": [t.to_json() for t in self.thumbs if t.type != "i"],
            "file_reference": self.file_reference.hex(),
        }


def box(w: int, h: int, side: int) -> tuple[int, int]:
    """Scale ``w``×``h`` to fit a ``side``×``side`` box (Telegram's thumbnail sizes)."""
    scale = min(1.0, side / max(1, w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def stripped(seed: str) -> bytes:
    # Telegram's stripped thumbnails start with 0x01, then height and width of a tiny JPEG
    # body (Telethon's stripped_photo_to_jpg adds the JPEG header back).
    return b"\x01\x28\x28" + filler(seed, 0, 40)
