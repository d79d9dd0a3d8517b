"""The simulated Telegram world: channels, users, accounts, and the script API.

Everything here is synchronous and runs on the event loop thread that hosts the
connections (an in-process ``SimulatedSender`` or the ``WorldServer``). A script call
changes the model and pushes the matching TL updates to the connected clients of the
accounts that joined the channel, the way Telegram does.

Telegram behaviours reproduced on purpose (see ``simulator/FIDELITY_MTPROTO.md``):

* live updates only reach accounts that joined the channel;
* every message event (new, edit, delete) advances the channel ``pts`` by its
  ``pts_count``; a skipped push (``push=False``) leaves a gap that Telethon fills with
  ``updates.getChannelDifference``;
* ``UpdateChannel`` carries only the id; the bundled channel may be ``min`` (partial);
* a new channel starts with a ``MessageService(MessageActionChannelCreate)`` at id 1 and a
  rename posts a ``MessageActionChatEditTitle`` service message, consuming ids and pts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from telethon.tl import types

from . import _tl
from .content import (
    MEDIA_KINDS,
    FilePart,
    Media,
    Thumb,
    WorldError,
    box,
    normalize_entities,
    stripped,
)

if TYPE_CHECKING:
    from .handlers import Reply

UTC = _dt.UTC

# https://core.telegram.org/api/channel: accounts can be in at most 500 channels/supergroups.
MAX_JOINED_CHANNELS = 500

_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")

DateLike = _dt.datetime | float | int | str | None


class RpcFail(Exception):
    """An RPC error as Telegram sends it: numeric code and an upper-case message."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class WorldConnection(Protocol):
    """What the world needs from a connected client (in-process sender or TCP session)."""

    account: str
    receive_updates: bool

    def deliver(self, updates: Any) -> None: ...

    def drop(self, error: BaseException) -> None: ...


class ManualClock:
    """A clock for deterministic tests: ``World(now=clock)``; ``clock.advance(60)``."""

    def __init__(self, start: DateLike = None):
        self._t = _to_timestamp(start) if start is not None else 1_700_000_000.0

    def __call__(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, when: DateLike) -> None:
        self._t = _to_timestamp(when)


def _to_timestamp(value: DateLike) -> float:
    if value is None:
        raise ValueError("no date")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, str):
        return _to_timestamp(_dt.datetime.fromisoformat(value))
    return float(value)


def _to_datetime(value: DateLike) -> _dt.datetime:
    # TL dates travel as whole seconds.
    return _dt.datetime.fromtimestamp(int(_to_timestamp(value)), tz=UTC)


@dataclass
class Post:
    id: int
    date: _dt.datetime
    text: str = ""
    media: Media | None = None
    grouped_id: int | None = None
    edit_date: _dt.datetime | None = None
    views: int = 0
    forwards: int = 0
    reactions: dict[str, int] = field(default_factory=dict)
    deleted: bool = False
    # Service messages: ("channel_create", title), ("edit_title", title),
    # ("edit_photo", "<photo id>") or ("delete_photo", "").
    action: tuple[str, str] | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    # At most one of media / webpage / poll / geo: Telegram's message has one media slot.
    webpage: dict[str, Any] | None = None
    poll: dict[str, Any] | None = None
    geo: dict[str, Any] | None = None
    forward: dict[str, Any] | None = None
    reply_to: int | None = None
    author: str | None = None

    @property
    def is_service(self) -> bool:
        return self.action is not None


@dataclass
class PtsEvent:
    pts: int
    pts_count: int
    kind: str  # new | edit | delete
    ids: tuple[int, ...]


@dataclass
class ChannelModel:
    id: int
    access_hash: int
    title: str
    username: str | None
    about: str
    date: _dt.datetime
    photo_id: int | None = None
    fake: bool = False
    scam: bool = False
    verified: bool = False
    restriction_reasons: list[tuple[str, str, str]] = field(default_factory=list)
    participants_count: int = 0
    pts: int = 1
    posts: dict[int, Post] = field(default_factory=dict)
    next_message_id: int = 1
    log: list[PtsEvent] = field(default_factory=list)
    deleted: bool = False
    banned_all: bool = False
    banned_accounts: set[str] = field(default_factory=set)
    min_updates: bool = False
    released_username: str | None = None  # kept while deleted, reclaimed on restore

    @property
    def restricted(self) -> bool:
        return bool(self.restriction_reasons)

    @property
    def private(self) -> bool:
        return self.username is None

    @property
    def top_message_id(self) -> int:
        alive = [p.id for p in self.posts.values() if not p.deleted]
        return max(alive, default=0)

    def alive_posts(self) -> list[Post]:
        """Existing messages, newest first (the order getHistory returns)."""
        return sorted((p for p in self.posts.values() if not p.deleted), key=lambda p: -p.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "access_hash": self.access_hash,
            "username": self.username,
            "title": self.title,
            "about": self.about,
            "photo_id": self.photo_id,
            "fake": self.fake,
            "scam": self.scam,
            "verified": self.verified,
            "restricted": self.restricted,
            "restriction_reasons": [list(r) for r in self.restriction_reasons],
            "participants_count": self.participants_count,
            "pts": self.pts,
            "top_message_id": self.top_message_id,
            "deleted": self.deleted,
            "banned_all": self.banned_all,
            "banned_accounts": sorted(self.banned_accounts),
            "private": self.private,
        }


@dataclass
class UserModel:
    id: int
    access_hash: int
    username: str | None
    first_name: str
    bot: bool = False
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "access_hash": self.access_hash,
            "username": self.username,
            "first_name": self.first_name,
            "bot": self.bot,
        }


@dataclass
class Account:
    """A logged-in Telegram account (one per simulated client session)."""

    name: str
    user: UserModel
    authorized: bool = True
    joined: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "user": self.user.to_json(),
            "authorized": self.authorized,
            "joined": sorted(self.joined),
        }


@dataclass
class RequestRecord:
    timestamp: float
    name: str
    account: str
    request: Any


@dataclass
class _Injection:
    name: str
    code: int
    message: str
    times: int
    account: str | None


@dataclass
class _RateLimit:
    name: str
    calls: int
    per: float
    account: str | None
    hits: dict[str, list[float]] = field(default_factory=dict)


# What a post (or an album item) may say; see World.post.
_POST_FIELDS = frozenset(
    {
        "text",
        "media",
        "entities",
        "forward_from",
        "reply_to",
        "author",
        "webpage",
        "poll",
        "location",
        "venue",
        "views",
        "forwards",
        "reactions",
    }
)

# Script operations a control connection may run (see remote.py).
CONTROL_OPS = frozenset(
    {
        "create_channel",
        "post",
        "post_album",
        "edit",
        "delete",
        "set_label",
        "restrict",
        "unrestrict",
        "rename",
        "set_username",
        "set_about",
        "set_photo",
        "photo",
        "video",
        "gif",
        "audio",
        "voice",
        "sticker",
        "document",
        "media_info",
        "media_sha256",
        "media_bytes",
        "expire_file_reference",
        "set_participants",
        "set_views",
        "make_private",
        "make_public",
        "ban",
        "delete_channel",
        "restore",
        "create_user",
        "create_bot",
        "add_account",
        "flood_wait",
        "fail",
        "rate_limit",
        "clear_injections",
        "set_min_channel_updates",
        "disconnect_clients",
        "describe",
        "channel_posts",
        "get_requests_log",
        "clear_requests_log",
        "count_requests",
        "account_info",
        "set_max_joined_channels",
    }
)


class World:
    """A world of channels that scripts change and Telethon clients observe.

    ``now``: a callable returning a UNIX timestamp or an aware ``datetime``
    (default ``time.time``); ``ManualClock`` is a convenient one.
    ``per_account_access_hash``: like Telegram, give every account its own
    ``access_hash`` for the same channel (off by default so that
    ``channel.access_hash`` is what every client sees).
    """

    def __init__(
        self,
        now: Callable[[], Any] | None = None,
        *,
        seed: int = 0,
        latency: float = 0.0,
        service_messages: bool = True,
        per_account_access_hash: bool = False,
        max_joined_channels: int = MAX_JOINED_CHANNELS,
    ):
        self._clock = now or time.time
        self._seed = seed
        self._counter = 0
        self.latency = latency
        self.service_messages = service_messages
        self.per_account_access_hash = per_account_access_hash
        self.max_joined_channels = max_joined_channels
        self.channels: dict[int, ChannelModel] = {}
        self.users: dict[int, UserModel] = {}
        self.accounts: dict[str, Account] = {}
        self.media: dict[int, Media] = {}
        self.requests_log: list[tuple[float, str]] = []
        self.request_records: list[RequestRecord] = []
        self.account_pts = 1
        self._connections: list[WorldConnection] = []
        self._injections: list[_Injection] = []
        self._rate_limits: list[_RateLimit] = []
        self._next_channel_id = 1_900_000_000
        self._next_user_id = 6_000_000_000
        self._next_media_id = 5_100_000_000_000_000_000

    # ------------------------------------------------------------------ clock, ids

    def now(self) -> _dt.datetime:
        return _to_datetime(self._clock())

    def time(self) -> float:
        return _to_timestamp(self._clock())

    def _hash64(self, *parts: Any) -> int:
        digest = hashlib.sha256(repr((self._seed, *parts)).encode()).digest()
        value = int.from_bytes(digest[:8], "big", signed=True)
        return value or 1

    def _new_hash(self) -> int:
        self._counter += 1
        return self._hash64("hash", self._counter)

    # ------------------------------------------------------------------ lookups

    def channel(self, ref: int | str | ChannelModel) -> ChannelModel:
        """A channel by id, model, or username (``"@name"`` or ``"name"``)."""
        if isinstance(ref, ChannelModel):
            return ref
        if isinstance(ref, str):
            name = ref.lstrip("@").lower()
            for attr in ("username", "released_username"):  # a live owner wins
                for ch in self.channels.values():
                    candidate = getattr(ch, attr)
                    if candidate and candidate.lower() == name:
                        return ch
            raise WorldError(f"no channel with username {ref!r}")
        try:
            return self.channels[int(ref)]
        except (KeyError, ValueError, TypeError):
            raise WorldError(f"no channel {ref!r}") from None

    def account(self, name: str) -> Account:
        """The account called ``name``, created (authorized) on first use."""
        acct = self.accounts.get(name)
        if acct is None:
            acct = self.add_account(name)
        return acct

    def access_hash_for(self, ch: ChannelModel | int | str, account: str) -> int:
        ch = self.channel(ch)
        if not self.per_account_access_hash:
            return ch.access_hash
        return self._hash64("acct-hash", ch.access_hash, account)

    def min_access_hash(self, ch: ChannelModel) -> int:
        # Since layer 102 min constructors carry a different hash, usable only for files.
        return self._hash64("min-hash", ch.id)

    def find_username(self, username: str) -> ChannelModel | UserModel | None:
        name = username.lower()
        for ch in self.channels.values():
            if ch.username and ch.username.lower() == name and not ch.deleted:
                return ch
        for user in self.users.values():
            if user.username and user.username.lower() == name:
                return user
        return None

    def _check_username_free(self, username: str, owner: object = None) -> None:
        if not _USERNAME_RE.match(username) or username.endswith("_") or "__" in username:
            raise WorldError(f"invalid username {username!r}")
        taken = self.find_username(username)
        if taken is not None and taken is not owner:
            raise WorldError(f"username {username!r} is taken")

    # ------------------------------------------------------------------ connections

    def _attach(self, conn: WorldConnection) -> None:
        self.account(conn.account)
        if conn not in self._connections:
            self._connections.append(conn)

    def _detach(self, conn: WorldConnection) -> None:
        if conn in self._connections:
            self._connections.remove(conn)

    @property
    def connections(self) -> list[WorldConnection]:
        return list(self._connections)

    def disconnect_clients(self, account: str | None = None) -> int:
        """Drop the connections (all, or one account's) as if the network failed for good.

        Each client's ``disconnected`` future fails with ``ConnectionError``; its sends raise
        ``ConnectionError`` until ``client.connect()`` is called again. Returns how many
        connections were dropped.
        """
        dropped = 0
        for conn in list(self._connections):
            if account is None or conn.account == account:
                self._detach(conn)
                conn.drop(ConnectionError("Connection to Telegram lost (simulated)"))
                dropped += 1
        return dropped

    def _joined_accounts(self, ch: ChannelModel) -> list[str]:
        return [name for name, acct in self.accounts.items() if ch.id in acct.joined]

    def _push(
        self,
        ch: ChannelModel,
        build: Callable[[str], list[Any]],
        *,
        min_chat: bool = False,
        extra: Iterable[Post] = (),
    ) -> None:
        """Send ``types.Updates`` to every connected client of the accounts in ``ch``;
        ``extra`` posts bring the chats and users they mention (forward sources)."""
        date = self.now()
        extra = list(extra)
        for name in self._joined_accounts(ch):
            updates = build(name)
            if not updates:
                continue
            chat = _tl.min_channel(self, ch) if min_chat else _tl.channel(self, ch, name)
            chats, users = _tl.related(self, extra, name, ch.id)
            container = types.Updates(
                updates=updates, users=users, chats=[chat, *chats], date=date, seq=0
            )
            for conn in list(self._connections):
                if conn.account == name and conn.receive_updates:
                    conn.deliver(container)

    def _push_channel_update(self, ch: ChannelModel) -> None:
        self._push(
            ch, lambda _name: [types.UpdateChannel(channel_id=ch.id)], min_chat=ch.min_updates
        )

    # ------------------------------------------------------------------ users, accounts

    def _new_user(self, username: str | None, first_name: str, *, bot: bool) -> UserModel:
        if username is not None:
            self._check_username_free(username)
        self._next_user_id += 7
        user = UserModel(
            id=self._next_user_id,
            access_hash=self._new_hash(),
            username=username,
            first_name=first_name,
            bot=bot,
        )
        self.users[user.id] = user
        return user

    def create_user(self, username: str, first_name: str | None = None) -> UserModel:
        """A person with a public username (``contacts.resolveUsername`` gives a User)."""
        return self._new_user(username, first_name or username, bot=False)

    def create_bot(self, username: str, first_name: str | None = None) -> UserModel:
        """A bot (its username must end in "bot" on Telegram; not enforced)."""
        return self._new_user(username, first_name or username, bot=True)

    def add_account(
        self,
        name: str,
        *,
        first_name: str | None = None,
        username: str | None = None,
        authorized: bool = True,
    ) -> Account:
        """Register an account; clients connect as it with ``account=name``."""
        if name in self.accounts:
            raise WorldError(f"account {name!r} exists")
        user = self._new_user(username, first_name or f"chanwatch {name}", bot=False)
        user.phone = f"999{user.id % 10_000_000:07d}"
        acct = Account(name=name, user=user, authorized=authorized)
        self.accounts[name] = acct
        return acct

    def account_info(self, name: str) -> Account:
        return self.account(name)

    def set_max_joined_channels(self, n: int) -> None:
        self.max_joined_channels = n

    # ------------------------------------------------------------------ channels

    def create_channel(
        self,
        username: str | None,
        title: str,
        about: str = "",
        participants: int = 0,
        *,
        verified: bool = False,
        fake: bool = False,
        scam: bool = False,
        photo_id: int | None = None,
        restriction_reasons: Iterable[Sequence[str]] = (),
        date: DateLike = None,
        channel_id: int | None = None,
        access_hash: int | None = None,
    ) -> ChannelModel:
        """A broadcast channel (public if ``username`` is given, else private)."""
        if username is not None:
            self._check_username_free(username)
        if channel_id is None:
            self._next_channel_id += 37
            while self._next_channel_id in self.channels:
                self._next_channel_id += 37
            channel_id = self._next_channel_id
        elif channel_id in self.channels:
            raise WorldError(f"channel id {channel_id} exists")
        created = self.now() if date is None else _to_datetime(date)
        ch = ChannelModel(
            id=channel_id,
            access_hash=access_hash if access_hash is not None else self._new_hash(),
            title=title,
            username=username,
            about=about,
            date=created,
            photo_id=self._avatar(photo_id, created).id,
            fake=fake,
            scam=scam,
            verified=verified,
            # Scripts and the control connection send JSON lists, not tuples.
            restriction_reasons=[
                (platform, reason, text) for platform, reason, text in restriction_reasons
            ],
            participants_count=participants,
        )
        self.channels[ch.id] = ch
        if self.service_messages:
            mid = self._take_id(ch)
            ch.posts[mid] = Post(id=mid, date=created, action=("channel_create", title))
        return ch

    def _avatar(self, photo: int | bytes | Media | dict[str, Any] | None, date: DateLike) -> Media:
        """A channel photo: an existing photo, new bytes, or made-up bytes (640×640, with a
        160-px "a" small size as Telegram gives chat photos)."""
        if isinstance(photo, Media) or (isinstance(photo, dict) and "id" in photo):
            media = self._media(photo)
        elif isinstance(photo, int) and photo in self.media:
            media = self.media[photo]
        elif isinstance(photo, int):
            media = self.photo(w=640, h=640, size=4096, date=date)
            del self.media[media.id]
            media.id = photo
            self.media[photo] = media
        elif isinstance(photo, (bytes, bytearray)):
            media = self.photo(bytes(photo), w=640, h=640, date=date)
        else:
            media = self.photo(w=640, h=640, size=4096, date=date)
        if not media.is_photo:
            raise WorldError(f"a channel photo must be a photo, not a {media.kind}")
        if not any(t.type == "a" for t in media.thumbs):
            seed = f"avatar:{self._seed}:{media.id}"
            small = FilePart(seed, max(64, min(media.size // 4, 8192)))
            media.thumbs.append(Thumb("a", 160, 160, small))
        return media

    def _take_id(self, ch: ChannelModel) -> int:
        mid = ch.next_message_id
        ch.next_message_id += 1
        return mid

    def _advance_pts(self, ch: ChannelModel, kind: str, ids: tuple[int, ...]) -> PtsEvent:
        count = len(ids) if kind == "delete" else 1
        ch.pts += count
        event = PtsEvent(pts=ch.pts, pts_count=count, kind=kind, ids=ids)
        ch.log.append(event)
        return event

    # ------------------------------------------------------------------ files

    def _new_media(
        self,
        kind: str,
        data: bytes | None,
        size: int | None,
        *,
        thumb: bytes | bool | None = None,
        date: DateLike = None,
        media_id: int | None = None,
        **fields: Any,
    ) -> Media:
        if data is not None and not isinstance(data, (bytes, bytearray)):
            raise WorldError(f"file data must be bytes, not {type(data).__name__}")
        if data is not None and size is not None and size != len(data):
            raise WorldError(f"size {size} does not match the {len(data)} bytes given")
        if media_id is None:
            self._next_media_id += 1
            media_id = self._next_media_id
        elif media_id in self.media:
            raise WorldError(f"media id {media_id} exists")
        mime, file_name, default_size = MEDIA_KINDS[kind]
        total = len(data) if data is not None else (default_size if size is None else size)
        if total <= 0:
            raise WorldError("a file has at least one byte")
        fields.setdefault("mime_type", mime)
        fields.setdefault("file_name", file_name)
        media = Media(
            kind=kind,
            id=media_id,
            access_hash=self._new_hash(),
            date=self.now() if date is None else _to_datetime(date),
            size=total,
            file=FilePart(f"file:{self._seed}:{media_id}", total, bytes(data) if data else None),
            file_reference=self._new_file_reference(media_id),
            **fields,
        )
        if thumb is not False and (kind != "document" or thumb is not None):
            self._add_thumbs(media, thumb if isinstance(thumb, (bytes, bytearray)) else None)
        self.media[media.id] = media
        return media

    def _new_file_reference(self, media_id: int) -> bytes:
        # Opaque to clients; a fresh one after expire_file_reference.
        return (
            b"\x02" + self._new_hash().to_bytes(8, "big", signed=True) + media_id.to_bytes(8, "big")
        )

    def _add_thumbs(self, media: Media, data: bytes | None) -> None:
        """A stripped inline size "i" and a 320-px "m" thumbnail, as Telegram makes them."""
        w, h = box(media.w, media.h, 320)
        size = len(data) if data else max(64, min(media.size // 4, 24_576))
        seed = f"thumb:{self._seed}:{media.id}"
        media.thumbs = [
            Thumb("i", 40, 40, FilePart(seed + ":i", 43, stripped(seed))),
            Thumb("m", w, h, FilePart(seed + ":m", size, bytes(data) if data else None)),
        ]

    def photo(
        self,
        data: bytes | None = None,
        *,
        w: int = 1280,
        h: int = 720,
        size: int | None = None,
        thumb: bytes | None = None,
        date: DateLike = None,
    ) -> Media:
        """A photo whose largest size holds ``data`` (or ``size`` made-up bytes); it also
        has a stripped "i" and a 320-px "m" thumbnail (``thumb`` gives its bytes)."""
        return self._new_media("photo", data, size, thumb=thumb, date=date, w=w, h=h)

    def video(
        self,
        data: bytes | None = None,
        *,
        duration: float = 15.0,
        w: int = 1280,
        h: int = 720,
        round: bool = False,
        size: int | None = None,
        thumb: bytes | None = None,
        file_name: str | None = None,
        mime_type: str = "video/mp4",
        date: DateLike = None,
    ) -> Media:
        """A video document (``round=True``: a round video message, w = h) with thumbnails."""
        kind = "round" if round else "video"
        fields: dict[str, Any] = {"duration": duration, "w": w, "h": w if round else h}
        if file_name is not None or not round:
            fields["file_name"] = file_name or "video.mp4"
        return self._new_media(
            kind,
            data,
            size,
            thumb=thumb,
            date=date,
            mime_type=mime_type,
            **fields,
        )

    def gif(
        self,
        data: bytes | None = None,
        *,
        duration: float = 3.0,
        w: int = 480,
        h: int = 270,
        size: int | None = None,
        thumb: bytes | None = None,
        date: DateLike = None,
    ) -> Media:
        """An animation ("GIF": an MP4 with DocumentAttributeAnimated, as Telegram stores them)."""
        return self._new_media(
            "gif",
            data,
            size,
            thumb=thumb,
            date=date,
            duration=duration,
            w=w,
            h=h,
        )

    def audio(
        self,
        data: bytes | None = None,
        *,
        duration: float = 180.0,
        title: str | None = None,
        performer: str | None = None,
        file_name: str = "audio.mp3",
        mime_type: str = "audio/mpeg",
        size: int | None = None,
        date: DateLike = None,
    ) -> Media:
        """A music file (DocumentAttributeAudio with title/performer; no thumbnail)."""
        return self._new_media(
            "audio",
            data,
            size,
            thumb=False,
            date=date,
            duration=duration,
            title=title,
            performer=performer,
            file_name=file_name,
            mime_type=mime_type,
        )

    def voice(
        self,
        data: bytes | None = None,
        *,
        duration: float = 7.0,
        size: int | None = None,
        date: DateLike = None,
    ) -> Media:
        """A voice message (audio/ogg, DocumentAttributeAudio(voice=True), no file name)."""
        return self._new_media("voice", data, size, thumb=False, date=date, duration=duration)

    def sticker(
        self,
        data: bytes | None = None,
        *,
        emoji: str = "🙂",
        w: int = 512,
        h: int = 512,
        size: int | None = None,
        date: DateLike = None,
    ) -> Media:
        """A static sticker (image/webp, DocumentAttributeSticker + ImageSize, thumbnails)."""
        return self._new_media("sticker", data, size, date=date, emoji=emoji, w=w, h=h)

    def document(
        self,
        data: bytes | None = None,
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        size: int | None = None,
        thumb: bytes | bool | None = None,
        date: DateLike = None,
    ) -> Media:
        """A generic file (DocumentAttributeFilename); ``thumb`` (bytes or True) adds
        thumbnails, as Telegram does for PDFs and images sent as files."""
        return self._new_media(
            "document",
            data,
            size,
            thumb=thumb or None,
            date=date,
            file_name=file_name,
            mime_type=mime_type,
        )

    def _media(self, ref: int | dict[str, Any] | Media) -> Media:
        if isinstance(ref, Media):
            return ref
        try:
            return self.media[int(ref["id"] if isinstance(ref, dict) else ref)]
        except (KeyError, TypeError, ValueError):
            raise WorldError(f"no media {ref!r}") from None

    def media_info(self, media: int | dict[str, Any] | Media) -> Media:
        """The file as the world holds it (``to_json`` gives id, size, sha256, thumbs)."""
        return self._media(media)

    def media_sha256(self, media: int | dict[str, Any] | Media, thumb: str = "") -> str:
        """SHA-256 (hex) of a file's bytes, or of one thumbnail's (``thumb="m"``)."""
        m = self._media(media)
        part = m.file if not thumb else m.part(thumb)
        if part is None:
            raise WorldError(f"media {m.id} has no size {thumb!r}")
        return part.sha256()

    def media_bytes(self, media: int | dict[str, Any] | Media, thumb: str = "") -> bytes:
        """The bytes a download of the file (or of the thumbnail ``thumb``) must give."""
        m = self._media(media)
        part = m.file if not thumb else m.part(thumb)
        if part is None:
            raise WorldError(f"media {m.id} has no size {thumb!r}")
        return part.content()

    def expire_file_reference(self, media: int | dict[str, Any] | Media) -> str:
        """The file's current reference expires: the next upload.getFile with it fails with
        FILE_REFERENCE_EXPIRED; messages fetched from now on carry a fresh one (returned,
        hex). Once per call, so "once per file" is one call per file."""
        m = self._media(media)
        m.expired_references.append(m.file_reference)
        m.file_reference = self._new_file_reference(m.id)
        return m.file_reference.hex()

    def _make_media(self, spec: Any, date: _dt.datetime) -> Media | None:
        """``None``/"none", a ``Media``, ``{"id": ...}`` of an existing one, a kind name, or
        a dict ``{"kind": ..., <that factory's keyword arguments>}``."""
        if spec is None or spec == "none":
            return None
        if isinstance(spec, Media):
            return spec
        if isinstance(spec, int):
            return self._media(spec)
        if isinstance(spec, str):
            spec = {"kind": spec}
        if not isinstance(spec, dict):
            raise WorldError(f"not a media description: {spec!r}")
        spec = dict(spec)
        if ("id" in spec and "kind" not in spec) or spec.get("id") in self.media:
            return self._media(spec)
        kind = spec.pop("kind", None)
        factories: dict[str, Callable[..., Media]] = {
            "photo": self.photo,
            "video": self.video,
            "round": lambda **kw: self.video(round=True, **kw),
            "gif": self.gif,
            "audio": self.audio,
            "voice": self.voice,
            "sticker": self.sticker,
            "document": self.document,
        }
        if kind not in factories:
            raise WorldError(f"unknown media kind {kind!r} ({', '.join(factories)})")
        spec.setdefault("date", date)
        try:
            return factories[kind](**spec)
        except TypeError as e:
            raise WorldError(f"media {kind}: {e}") from None

    # ------------------------------------------------------------------ post content

    def _forward(self, spec: Any, date: _dt.datetime) -> dict[str, Any] | None:
        """``forward_from``: a channel (model, id, "@name"), a ``UserModel``, a name
        (a sender who hides their account), or a dict ``{"channel": ref, "post": id,
        "author": str, "date": ...}`` / ``{"user": id}`` / ``{"name": str}``."""
        if spec is None:
            return None
        if isinstance(spec, UserModel):
            spec = {"user": spec.id}
        elif isinstance(spec, ChannelModel) or isinstance(spec, int):
            spec = {"channel": spec}
        elif isinstance(spec, str):
            spec = {"channel": spec} if spec.startswith("@") else {"name": spec}
        if not isinstance(spec, dict):
            raise WorldError(f"not a forward origin: {spec!r}")
        out: dict[str, Any] = {}
        when = spec.get("date")
        if spec.get("channel") is not None:
            source = self.channel(spec["channel"])
            out["channel_id"] = source.id
            post_id = spec.get("post")
            if post_id is not None:
                out["channel_post"] = int(post_id)
                original = source.posts.get(int(post_id))
                if original is not None and when is None:
                    when = original.date
                if original is not None and spec.get("author") is None and original.author:
                    out["post_author"] = original.author
            if spec.get("author") is not None:
                out["post_author"] = str(spec["author"])
        elif spec.get("user") is not None:
            user = spec["user"]
            user_id = int(user.id if isinstance(user, UserModel) else user)
            if user_id not in self.users:
                raise WorldError(f"no user {user_id!r}")
            out["user_id"] = user_id
        elif spec.get("name"):
            out["from_name"] = str(spec["name"])
        else:
            raise WorldError("a forward needs a channel, a user or a name")
        out["date"] = (date if when is None else _to_datetime(when)).isoformat()
        return out

    @staticmethod
    def _webpage(spec: Any) -> dict[str, Any] | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            spec = {"url": spec}
        if not isinstance(spec, dict) or not spec.get("url"):
            raise WorldError("a link preview needs a url")
        known = {"url", "title", "site_name", "description", "type"}
        unknown = set(spec) - known
        if unknown:
            raise WorldError(f"unknown link preview fields {sorted(unknown)}")
        return {"type": "article", **spec}

    @staticmethod
    def _poll(spec: Any) -> dict[str, Any] | None:
        if spec is None:
            return None
        if not isinstance(spec, dict) or not spec.get("question"):
            raise WorldError("a poll is a dict with a question and answers")
        answers = [str(a) for a in spec.get("answers") or []]
        # https://core.telegram.org/api/poll: 2 to 10 (12 for some accounts) options.
        if not 2 <= len(answers) <= 12:
            raise WorldError("a poll has 2 to 12 answers")
        votes = [int(v) for v in spec.get("votes") or [0] * len(answers)]
        if len(votes) != len(answers):
            raise WorldError("votes must give one count per answer")
        return {
            "question": str(spec["question"]),
            "answers": answers,
            "votes": votes,
            "closed": bool(spec.get("closed")),
            "multiple_choice": bool(spec.get("multiple_choice")),
            "quiz": bool(spec.get("quiz")),
        }

    @staticmethod
    def _geo(location: Any, venue: Any) -> dict[str, Any] | None:
        if location is not None and venue is not None:
            raise WorldError("give location or venue, not both")
        spec = venue if venue is not None else location
        if spec is None:
            return None
        if isinstance(spec, (tuple, list)) and len(spec) == 2:
            spec = {"lat": spec[0], "long": spec[1]}
        if not isinstance(spec, dict) or "lat" not in spec or "long" not in spec:
            raise WorldError("a location is (lat, long) or a dict with lat and long")
        out: dict[str, Any] = {"lat": float(spec["lat"]), "long": float(spec["long"])}
        if venue is not None:
            if not spec.get("title"):
                raise WorldError("a venue needs a title")
            out["venue"] = {
                "title": str(spec["title"]),
                "address": str(spec.get("address", "")),
                "provider": str(spec.get("provider", "")),
                "venue_id": str(spec.get("venue_id", "")),
                "venue_type": str(spec.get("venue_type", "")),
            }
        return out

    def _build_post(
        self, ch: ChannelModel, mid: int, when: _dt.datetime, item: dict[str, Any]
    ) -> Post:
        unknown = set(item) - _POST_FIELDS
        if unknown:
            raise WorldError(f"unknown post fields {sorted(unknown)}")
        text = item.get("text") or ""
        reply_to = item.get("reply_to")
        if reply_to is not None and int(reply_to) not in ch.posts:
            raise WorldError(f"no message {reply_to} to reply to in channel {ch.id}")
        post = Post(
            id=mid,
            date=when,
            text=text,
            media=self._make_media(item.get("media"), when),
            entities=normalize_entities(item.get("entities"), text),
            webpage=self._webpage(item.get("webpage")),
            poll=self._poll(item.get("poll")),
            geo=self._geo(item.get("location"), item.get("venue")),
            forward=self._forward(item.get("forward_from"), when),
            reply_to=int(reply_to) if reply_to is not None else None,
            author=item.get("author"),
            views=item.get("views") or 0,
            forwards=item.get("forwards") or 0,
            reactions=_reactions(item.get("reactions")),
        )
        _check_one_media(post)
        return post

    def post(
        self,
        ch_id: int | str | ChannelModel,
        text: str = "",
        *,
        media: Any = None,
        entities: Iterable[Any] | None = None,
        forward_from: Any = None,
        reply_to: int | None = None,
        author: str | None = None,
        webpage: str | dict[str, Any] | None = None,
        poll: dict[str, Any] | None = None,
        location: tuple[float, float] | dict[str, Any] | None = None,
        venue: dict[str, Any] | None = None,
        grouped_id: int | None = None,
        date: DateLike = None,
        views: int = 0,
        forwards: int = 0,
        reactions: int | dict[str, int] | None = None,
        push: bool = True,
    ) -> int:
        """Publish a post; returns its message id. ``push=False``: the update is lost
        on the way (pts still advances, so the next push reveals a gap).

        ``media``: ``world.photo(...)``/``video``/``gif``/``audio``/``voice``/``sticker``/
        ``document`` (or a kind name / dict, see ``_make_media``); ``entities``: Telethon
        ``MessageEntity*`` objects or dicts (``{"type": "texturl", "part": "here",
        "url": ...}``); ``webpage``, ``poll``, ``location``/``venue`` take the media slot."""
        item = {
            "text": text,
            "media": media,
            "entities": entities,
            "forward_from": forward_from,
            "reply_to": reply_to,
            "author": author,
            "webpage": webpage,
            "poll": poll,
            "location": location,
            "venue": venue,
            "views": views,
            "forwards": forwards,
            "reactions": reactions,
        }
        return self.post_album(
            ch_id, [item], grouped_id=grouped_id, date=date, push=push, _album=False
        )[0]

    def post_album(
        self,
        ch_id: int | str | ChannelModel,
        items: list[dict[str, Any]],
        *,
        grouped_id: int | None = None,
        date: DateLike = None,
        push: bool = True,
        _album: bool = True,
    ) -> list[int]:
        """Publish several posts at once (an album shares ``grouped_id``), pushed in one
        ``Updates`` like Telegram does. Items: dicts with ``post``'s keyword arguments
        (text, media, entities, forward_from, author, views, ...)."""
        ch = self.channel(ch_id)
        when = self.now() if date is None else _to_datetime(date)
        if _album and grouped_id is None:
            grouped_id = self._new_hash() & 0x7FFF_FFFF_FFFF_FFFF
        # Build every post before changing the channel: a bad item changes nothing.
        first = ch.next_message_id
        posts = [self._build_post(ch, first + i, when, item) for i, item in enumerate(items)]
        updates = []
        ids = []
        for post in posts:
            post.id = self._take_id(ch)
            post.grouped_id = grouped_id
            ch.posts[post.id] = post
            event = self._advance_pts(ch, "new", (post.id,))
            updates.append((post, event))
            ids.append(post.id)
        if push:
            self._push(
                ch,
                lambda name: [
                    types.UpdateNewChannelMessage(
                        message=_tl.message(ch, p), pts=e.pts, pts_count=e.pts_count
                    )
                    for p, e in updates
                ],
                extra=[p for p, _e in updates],
            )
        return ids

    def _alive_post(self, ch: ChannelModel, msg_id: int) -> Post:
        post = ch.posts.get(msg_id)
        if post is None or post.deleted:
            raise WorldError(f"no message {msg_id} in channel {ch.id}")
        return post

    def edit(
        self,
        ch_id: int | str | ChannelModel,
        msg_id: int,
        new_text: str | None = None,
        *,
        entities: Any = "keep",
        media: Any = "keep",
        webpage: Any = "keep",
        poll: Any = "keep",
        location: Any = "keep",
        venue: Any = "keep",
        date: DateLike = None,
        push: bool = True,
    ) -> None:
        """Edit a post; pushes UpdateEditChannelMessage. Everything not given is kept
        (``new_text=None`` keeps the text). ``entities``: the new list (``[]`` removes the
        formatting; kept entities must still fit a new text). ``media=None`` removes the
        media, a new one swaps it; a new ``media``/``webpage``/``poll``/``location``/``venue``
        replaces whatever held the media slot."""
        ch = self.channel(ch_id)
        post = self._alive_post(ch, msg_id)
        if post.is_service:
            raise WorldError("service messages cannot be edited")
        when = self.now() if date is None else _to_datetime(date)
        text = post.text if new_text is None else new_text
        new_entities = normalize_entities(post.entities if entities == "keep" else entities, text)
        slot: dict[str, Any] = {
            "media": post.media,
            "webpage": post.webpage,
            "poll": post.poll,
            "geo": post.geo,
        }
        changes: dict[str, Any] = {}
        if media != "keep":
            changes["media"] = self._make_media(media, when)
        if webpage != "keep":
            changes["webpage"] = self._webpage(webpage)
        if poll != "keep":
            changes["poll"] = self._poll(poll)
        if location != "keep" or venue != "keep":
            changes["geo"] = self._geo(
                None if location == "keep" else location, None if venue == "keep" else venue
            )
        if any(v is not None for v in changes.values()):
            slot = dict.fromkeys(slot)  # a new media-like thing takes the one slot
        slot.update(changes)
        post.text = text
        post.entities = new_entities
        post.media, post.webpage, post.poll, post.geo = (
            slot["media"],
            slot["webpage"],
            slot["poll"],
            slot["geo"],
        )
        _check_one_media(post)
        post.edit_date = when
        event = self._advance_pts(ch, "edit", (msg_id,))
        if push:
            self._push(
                ch,
                lambda _name: [
                    types.UpdateEditChannelMessage(
                        message=_tl.message(ch, post), pts=event.pts, pts_count=1
                    )
                ],
                extra=[post],
            )

    def delete(
        self, ch_id: int | str | ChannelModel, ids: int | Iterable[int], *, push: bool = True
    ) -> list[int]:
        """Delete messages. ``push=False``: Telegram did not tell anyone (its deletion
        updates are unreliable); the pts still advances. Returns the deleted ids."""
        ch = self.channel(ch_id)
        wanted = [ids] if isinstance(ids, int) else list(ids)
        gone = []
        for mid in wanted:
            post = ch.posts.get(mid)
            if post is not None and not post.deleted:
                post.deleted = True
                gone.append(mid)
        if not gone:
            return []
        event = self._advance_pts(ch, "delete", tuple(gone))
        if push:
            self._push(
                ch,
                lambda _name: [
                    types.UpdateDeleteChannelMessages(
                        channel_id=ch.id,
                        messages=list(gone),
                        pts=event.pts,
                        pts_count=event.pts_count,
                    )
                ],
            )
        return gone

    def set_views(
        self,
        ch_id: int | str | ChannelModel,
        msg_id: int,
        views: int,
        forwards: int | None = None,
        reactions: int | dict[str, int] | None = None,
    ) -> None:
        """Counters change silently (clients poll messages.getMessagesViews)."""
        post = self._alive_post(self.channel(ch_id), msg_id)
        post.views = views
        if forwards is not None:
            post.forwards = forwards
        if reactions is not None:
            post.reactions = _reactions(reactions)

    def set_label(
        self,
        ch_id: int | str | ChannelModel,
        fake: bool | None = None,
        scam: bool | None = None,
        verified: bool | None = None,
    ) -> None:
        ch = self.channel(ch_id)
        before = (ch.fake, ch.scam, ch.verified)
        if fake is not None:
            ch.fake = fake
        if scam is not None:
            ch.scam = scam
        if verified is not None:
            ch.verified = verified
        if before != (ch.fake, ch.scam, ch.verified):
            self._push_channel_update(ch)

    def restrict(
        self, ch_id: int | str | ChannelModel, platform: str, reason: str, text: str
    ) -> None:
        """Add (or replace) a restriction reason; ``restricted`` follows the list."""
        ch = self.channel(ch_id)
        reasons = [r for r in ch.restriction_reasons if (r[0], r[1]) != (platform, reason)]
        reasons.append((platform, reason, text))
        ch.restriction_reasons = reasons
        self._push_channel_update(ch)

    def unrestrict(self, ch_id: int | str | ChannelModel, platform: str | None = None) -> None:
        ch = self.channel(ch_id)
        before = list(ch.restriction_reasons)
        ch.restriction_reasons = [
            r for r in ch.restriction_reasons if platform is not None and r[0] != platform
        ]
        if before != ch.restriction_reasons:
            self._push_channel_update(ch)

    def rename(self, ch_id: int | str | ChannelModel, title: str, *, push: bool = True) -> None:
        """New title: a MessageActionChatEditTitle service message and an UpdateChannel."""
        ch = self.channel(ch_id)
        ch.title = title
        self._service_message(ch, ("edit_title", title), push=push)
        if push:
            self._push_channel_update(ch)

    def _service_message(
        self, ch: ChannelModel, action: tuple[str, str], *, media: Media | None = None, push: bool
    ) -> None:
        """A channel change shown in the history (consumes a message id and a pts)."""
        if not self.service_messages:
            return
        mid = self._take_id(ch)
        post = Post(id=mid, date=self.now(), action=action, media=media)
        ch.posts[mid] = post
        event = self._advance_pts(ch, "new", (mid,))
        if push:
            self._push(
                ch,
                lambda _name: [
                    types.UpdateNewChannelMessage(
                        message=_tl.message(ch, post), pts=event.pts, pts_count=1
                    )
                ],
            )

    def set_username(self, ch_id: int | str | ChannelModel, username: str | None) -> None:
        """Change the public username; ``None`` makes the channel private."""
        ch = self.channel(ch_id)
        if username is not None:
            self._check_username_free(username, owner=ch)
        if username == ch.username:
            return
        ch.username = username
        self._push_channel_update(ch)

    def make_private(self, ch_id: int | str | ChannelModel) -> None:
        """Drop the username: non-members get CHANNEL_PRIVATE, members keep reading."""
        self.set_username(ch_id, None)

    def make_public(self, ch_id: int | str | ChannelModel, username: str) -> None:
        self.set_username(ch_id, username)

    def set_about(self, ch_id: int | str | ChannelModel, about: str) -> None:
        ch = self.channel(ch_id)
        if about != ch.about:
            ch.about = about
            self._push_channel_update(ch)

    def set_photo(
        self,
        ch_id: int | str | ChannelModel,
        photo: int | bytes | Media | dict[str, Any] | None,
        *,
        push: bool = True,
    ) -> int | None:
        """A new channel photo (a photo id, bytes, a ``world.photo(...)``) or ``None`` to
        remove it. Like Telegram: a ``MessageActionChatEditPhoto`` (or ``...DeletePhoto``)
        service message and an ``UpdateChannel``. Returns the new photo id."""
        ch = self.channel(ch_id)
        avatar = None if photo is None else self._avatar(photo, None)
        new_id = avatar.id if avatar is not None else None
        if new_id == ch.photo_id:
            return new_id
        ch.photo_id = new_id
        action = ("edit_photo", str(new_id)) if avatar is not None else ("delete_photo", "")
        self._service_message(ch, action, media=avatar, push=push)
        if push:
            self._push_channel_update(ch)
        return new_id

    def set_participants(self, ch_id: int | str | ChannelModel, n: int) -> None:
        """Subscriber count changes silently (read via channels.getFullChannel)."""
        self.channel(ch_id).participants_count = n

    def set_min_channel_updates(
        self, ch_id: int | str | ChannelModel, enabled: bool = True
    ) -> None:
        """Bundle a ``min=True`` (partial) channel with UpdateChannel pushes."""
        self.channel(ch_id).min_updates = enabled

    def ban(self, ch_id: int | str | ChannelModel, account: str | None = None) -> None:
        """Ban the account (or, with ``None``, every account) from the channel.

        GetChannels then returns ``ChannelForbidden``; reading raises CHANNEL_PRIVATE."""
        ch = self.channel(ch_id)
        affected = [a for a in self._joined_accounts(ch) if account is None or a == account]
        if account is None:
            ch.banned_all = True
        else:
            ch.banned_accounts.add(account)
        self._push(
            ch, lambda name: [types.UpdateChannel(channel_id=ch.id)] if name in affected else []
        )
        for name in affected:
            self.accounts[name].joined.discard(ch.id)

    def delete_channel(self, ch_id: int | str | ChannelModel) -> None:
        """The owner deletes the channel: everything fails, the username is released."""
        ch = self.channel(ch_id)
        if ch.deleted:
            return
        ch.deleted = True
        self._push_channel_update(ch)
        ch.released_username, ch.username = ch.username, None
        for acct in self.accounts.values():
            acct.joined.discard(ch.id)

    def restore(self, ch_id: int | str | ChannelModel) -> None:
        """Undo ``ban`` and ``delete_channel`` (memberships are not restored)."""
        ch = self.channel(ch_id)
        if ch.deleted:
            ch.deleted = False
            name, ch.released_username = ch.released_username, None
            if name and self.find_username(name) is None:
                ch.username = name
        ch.banned_all = False
        ch.banned_accounts.clear()

    def is_banned(self, ch: ChannelModel, account: str) -> bool:
        return ch.banned_all or account in ch.banned_accounts

    # ------------------------------------------------------------------ failure injection

    def flood_wait(
        self,
        request_type_name: str | type,
        seconds: int,
        times: int = 1,
        *,
        account: str | None = None,
    ) -> None:
        """The next ``times`` calls of that request (e.g. "ResolveUsernameRequest")
        fail with FLOOD_WAIT_<seconds>."""
        self.fail(request_type_name, f"FLOOD_WAIT_{int(seconds)}", 420, times, account=account)

    def fail(
        self,
        request_type_name: str | type,
        message: str,
        code: int = 400,
        times: int = 1,
        *,
        account: str | None = None,
    ) -> None:
        """The next ``times`` calls of that request fail with ``code``/``message``
        (e.g. ``fail("GetHistoryRequest", "RPC_CALL_FAIL", 500)``)."""
        name = _request_name(request_type_name)
        self._injections.append(_Injection(name, code, message, times, account))

    def rate_limit(
        self,
        request_type_name: str | type,
        calls: int,
        per: float,
        *,
        account: str | None = None,
    ) -> None:
        """Natural flood control: more than ``calls`` calls per ``per`` seconds (world
        clock, per account) fail with FLOOD_WAIT_<seconds until the window frees>."""
        name = _request_name(request_type_name)
        self._rate_limits.append(_RateLimit(name, calls, per, account))

    def clear_injections(self) -> None:
        self._injections.clear()
        self._rate_limits.clear()

    def _check_injected(self, account: str, name: str) -> None:
        for inj in self._injections:
            if inj.name == name and inj.times > 0 and inj.account in (None, account):
                inj.times -= 1
                if inj.times == 0:
                    self._injections.remove(inj)
                raise RpcFail(inj.code, inj.message)
        now = self.time()
        for rl in self._rate_limits:
            if rl.name != name or rl.account not in (None, account):
                continue
            hits = [t for t in rl.hits.get(account, []) if t > now - rl.per]
            if len(hits) >= rl.calls:
                rl.hits[account] = hits
                wait = max(1, int(hits[0] + rl.per - now + 0.999))
                raise RpcFail(420, f"FLOOD_WAIT_{wait}")
            hits.append(now)
            rl.hits[account] = hits

    # ------------------------------------------------------------------ requests log

    def _log_request(self, account: str, name: str, request: Any) -> None:
        ts = self.time()
        self.requests_log.append((ts, name))
        self.request_records.append(RequestRecord(ts, name, account, request))

    def count_requests(self, name: str | type, account: str | None = None) -> int:
        name = _request_name(name)
        return sum(
            1
            for r in self.request_records
            if r.name == name and (account is None or r.account == account)
        )

    def get_requests_log(self) -> list[tuple[float, str]]:
        return list(self.requests_log)

    def clear_requests_log(self) -> None:
        self.requests_log.clear()
        self.request_records.clear()

    # ------------------------------------------------------------------ introspection

    def describe(self, ch_id: int | str | ChannelModel) -> dict[str, Any]:
        return self.channel(ch_id).to_json()

    def channel_posts(self, ch_id: int | str | ChannelModel) -> list[dict[str, Any]]:
        ch = self.channel(ch_id)
        return [
            {
                "id": p.id,
                "text": p.text,
                "date": p.date.isoformat(),
                "edit_date": p.edit_date.isoformat() if p.edit_date else None,
                "deleted": p.deleted,
                "service": p.action[0] if p.action else None,
                "media": p.media.kind if p.media else None,
                "media_id": p.media.id if p.media else None,
                "entities": p.entities,
                "webpage": p.webpage,
                "poll": p.poll,
                "geo": p.geo,
                "forward": p.forward,
                "reply_to": p.reply_to,
                "author": p.author,
                "grouped_id": p.grouped_id,
                "views": p.views,
            }
            for p in sorted(ch.posts.values(), key=lambda p: p.id)
        ]

    # ------------------------------------------------------------------ requests

    def dispatch(self, conn: WorldConnection, data: bytes) -> Reply:
        """Answer one serialized TL request from ``conn`` (see handlers.py)."""
        from .handlers import dispatch

        return dispatch(self, conn, data)


def _reactions(value: int | dict[str, int] | None) -> dict[str, int]:
    if not value:
        return {}
    if isinstance(value, int):
        return {"👍": value}
    return {str(k): int(v) for k, v in value.items() if int(v) > 0}


def _check_one_media(post: Post) -> None:
    held = [n for n in ("media", "webpage", "poll", "geo") if getattr(post, n) is not None]
    if len(held) > 1:
        raise WorldError(f"a message has one media: got {' and '.join(held)}")


def _request_name(value: str | type) -> str:
    if isinstance(value, type):
        return value.__name__
    return value
